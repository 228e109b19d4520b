// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
// Filling the largest sparse array makes it dense.
new Array(2 ** 32 - 1).fill(0).length;
