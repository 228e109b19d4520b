// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
// A legal length that needs 256 MiB.
"x".repeat(2 ** 28).length;
