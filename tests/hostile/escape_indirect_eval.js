// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: TypeError
(0, globalThis["ev" + "al"])("globalThis");
