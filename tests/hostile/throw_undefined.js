// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: none
// expect-message: undefined
throw undefined;
