// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
const a = [];
for (;;) a.push(new Array(10000).fill(0.5));
