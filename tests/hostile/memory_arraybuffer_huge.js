// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
// 1 GiB in one allocation, far past the 32 MiB limit.
new ArrayBuffer(2 ** 30).byteLength;
