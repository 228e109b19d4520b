// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: InternalError
// A script that throws an error worded like the engine's out-of-memory error, without
// allocating, has thrown an exception: it must not be reported as a memory-limit hit
// (a caller that retries those with more memory would hand the script more).
const e = new Error("out of memory");
e.name = "InternalError";
throw e;
