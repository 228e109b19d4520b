// expect: stack_overflow
// limits: timeout_ms=3000 fuel=max memory_mb=32
JSON.parse("[".repeat(100000) + "]".repeat(100000));
