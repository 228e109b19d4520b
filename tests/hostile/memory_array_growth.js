// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
const a = [];
for (let i = 0; ; i++) a.push(i * 1.5);
