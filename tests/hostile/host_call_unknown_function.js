// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: Error
// expect-message-contains: unknown host function
host.call("process.exit", 0);
