// expect: timeout
// limits: timeout_ms=300 fuel=max memory_mb=32
// An interval of 0 ms that never stops, under a result that never settles: clamped to
// 4 ms once nested, it keeps the loop busy until the deadline, and no longer.
let n = 0;
setInterval(() => { n++; }, 0);
new Promise(() => {});
