// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: TypeError
// The Function constructor reached through a function's prototype chain.
(() => {}).constructor("return this")();
