// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
new Float64Array(2 ** 27).length;
