// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: RangeError
// A script that throws an error worded like the engine's stack overflow, without
// recursing, has thrown an exception: the kind must not say the sandbox stopped it.
throw new RangeError("Maximum call stack size exceeded");
