// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
// The result is a Proxy whose ownKeys trap loops when the result is serialized.
new Proxy(
  {},
  {
    ownKeys() {
      for (;;) {}
    },
  },
);
