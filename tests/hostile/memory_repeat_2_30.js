// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: RangeError
// 2^30 characters is past QuickJS's longest string (2^30 - 1): a RangeError, as in
// other engines, before anything is allocated.
"x".repeat(2 ** 30);
