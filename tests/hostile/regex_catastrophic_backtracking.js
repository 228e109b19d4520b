// expect: timeout
// limits: timeout_ms=300 fuel=max memory_mb=32
// Exponential backtracking: 2^40 paths to try before the match fails.
/(a+)+$/.test("a".repeat(40) + "!");
