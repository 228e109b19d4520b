// expect: stack_overflow
// limits: timeout_ms=2000 fuel=max memory_mb=32
const o = {
  toString() {
    return "<" + String(this) + ">";
  },
};
String(o);
