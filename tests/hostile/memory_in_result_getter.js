// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
// The allocation starts while the result is being serialized.
({
  get hog() {
    const kept = [];
    for (;;) kept.push(new Array(10000).fill(1));
  },
});
