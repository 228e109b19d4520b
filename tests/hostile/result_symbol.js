// expect: ok null
// limits: timeout_ms=1000 fuel=max memory_mb=32
Symbol("secret");
