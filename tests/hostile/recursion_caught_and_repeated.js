// expect: timeout
// limits: timeout_ms=300 fuel=max memory_mb=32
// Overflowing the stack is a catchable RangeError; catching it and overflowing again,
// for ever, ends at the timeout.
function f() {
  return f() + 1;
}
for (;;) {
  try {
    f();
  } catch (e) {
    // swallowed
  }
}
