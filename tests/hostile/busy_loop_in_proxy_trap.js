// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
const p = new Proxy(
  {},
  {
    get() {
      for (;;) {}
    },
  },
);
p.anything;
