// expect: ok 4294967295
// limits: timeout_ms=1000 fuel=max memory_mb=32
// The largest array length is fine: the array is sparse and holds nothing.
new Array(2 ** 32 - 1).length;
