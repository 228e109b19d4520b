// expect: stack_overflow
// limits: timeout_ms=3000 fuel=max memory_mb=64 stack_kb=64
// A deeply nested result: it overflows while the host's side serializes it.
let o = {};
for (let i = 0; i < 20000; i++) o = { o };
o;
