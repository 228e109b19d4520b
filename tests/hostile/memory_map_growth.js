// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
const m = new Map();
for (let i = 0; ; i++) m.set(i, { i });
