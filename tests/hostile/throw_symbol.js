// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: none
// A thrown Symbol cannot be converted implicitly; it is still reported as an exception.
throw Symbol("s");
