// expect: timeout
// limits: timeout_ms=300 fuel=max memory_mb=32
// Waiting on host calls that never end: the wait stops at the deadline.
Promise.all([host.hang(1), host.hang(2), host.call("hang", 3)]);
