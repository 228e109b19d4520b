// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
// The thrown error's `name` getter loops while the error is being described.
class Sneaky extends Error {
  get name() {
    for (;;) {}
  }
}
throw new Sneaky("boom");
