// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
// The loop starts only when the result is serialized, after the script has finished.
({
  a: 1,
  get b() {
    for (;;) {}
  },
});
