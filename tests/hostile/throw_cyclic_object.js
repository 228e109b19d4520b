// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: none
// expect-message: [object Object]
// A thrown object that JSON cannot describe falls back to String().
const o = {};
o.o = o;
throw o;
