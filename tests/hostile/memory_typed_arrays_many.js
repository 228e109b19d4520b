// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
const kept = [];
for (;;) kept.push(new Uint8Array(1024 * 1024));
