// expect: timeout
// limits: timeout_ms=1000 fuel=max memory_mb=32
// Joining 2^32-1 holes visits every index: slow work that the timeout stops (it takes
// far longer than a second to come anywhere near the memory or string-length limits).
new Array(2 ** 32 - 1).join("x").length;
