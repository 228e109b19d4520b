// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: TypeError
// JSON has no BigInt: JSON.stringify throws a TypeError.
({ big: 12345678901234567890n });
