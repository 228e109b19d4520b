// expect: timeout
// limits: timeout_ms=300 fuel=max memory_mb=32
// A timer's callback that never returns: the deadline stops it like any code.
new Promise(() => setTimeout(() => { for (;;) {} }, 1));
