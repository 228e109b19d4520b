// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
// The result's toJSON loops while the result is being read.
({
  toJSON() {
    while (true) {}
  },
});
