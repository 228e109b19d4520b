// expect: ok [null, null, null, 0]
// limits: timeout_ms=1000 fuel=max memory_mb=32
[NaN, Infinity, -Infinity, -0];
