// expect: ok "done"
// limits: timeout_ms=5000 fuel=max memory_mb=16
// 100,000 two-object cycles, about 40 MiB of garbage in all, under a 16 MiB limit (about
// 12 MiB of QuickJS heap): the live set is tiny, so the cycle collector must reclaim the
// garbage before the heap limit is reached.
for (let i = 0; i < 100000; i++) {
  const a = { payload: new Array(16).fill(i) };
  const b = { a };
  a.b = b;
}
"done";
