// expect: ok [null, {}]
// limits: timeout_ms=1000 fuel=max memory_mb=32
// Functions and symbols become null in arrays and vanish from objects, as in JSON.stringify.
[function () {}, { f() {}, [Symbol("k")]: 1, s: Symbol("v"), u: undefined }];
