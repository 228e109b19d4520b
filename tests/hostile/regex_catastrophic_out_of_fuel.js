// expect: out_of_fuel
// limits: timeout_ms=5000 fuel=50000000 memory_mb=32
// The same regex under a small CPU budget: the regex engine burns fuel like any code.
/(a+)+$/.test("a".repeat(40) + "!");
