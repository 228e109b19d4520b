// expect: stack_overflow
// limits: timeout_ms=2000 fuel=max memory_mb=32
const o = {
  get x() {
    return this.x + 1;
  },
};
o.x;
