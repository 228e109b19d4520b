// expect: stack_overflow
// limits: timeout_ms=2000 fuel=max memory_mb=32
const p = new Proxy(
  {},
  {
    get(target, key, receiver) {
      return receiver[key];
    },
  },
);
p.x;
