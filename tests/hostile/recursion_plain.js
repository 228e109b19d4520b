// expect: stack_overflow
// limits: timeout_ms=2000 fuel=max memory_mb=32
function f(n) {
  return f(n + 1) + 1;
}
f(0);
