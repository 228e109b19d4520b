// expect: stack_overflow
// limits: timeout_ms=3000 fuel=max memory_mb=64 stack_kb=64
// A deeply nested object, built iteratively, then stringified by the script.
let o = null;
for (let i = 0; i < 20000; i++) o = [o];
JSON.stringify(o).length;
