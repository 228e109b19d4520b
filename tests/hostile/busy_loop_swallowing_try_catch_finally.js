// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
// A busy loop that catches everything and restarts itself from `finally`: the
// interruption is a trap in the sandbox, not a JS exception, so nothing can catch it.
for (;;) {
  try {
    try {
      while (true) {}
    } catch (e) {
      continue;
    } finally {
      continue;
    }
  } catch (e) {
    // swallowed
  } finally {
    // and again
  }
}
