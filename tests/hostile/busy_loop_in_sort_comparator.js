// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
[3, 1, 2].sort(() => {
  for (;;) {}
});
