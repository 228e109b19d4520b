// expect: ok 5
// limits: timeout_ms=500 fuel=max memory_mb=32
// A rejection nobody awaits does not change a plain result.
Promise.reject(new Error("ignored"));
5;
