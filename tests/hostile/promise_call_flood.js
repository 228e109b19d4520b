// expect: host_call_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32 host_calls=200
// Promise calls that never settle, started in a loop: the cap on calls in flight makes
// the rest wait, and the call past the limit ends the execution.
for (let i = 0; ; i++) host.hang(i);
