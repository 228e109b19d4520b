// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// context: {"tenant": {"id": "t1"}}
// expect-name: TypeError
// `context` is frozen: its prototype cannot be replaced.
Object.setPrototypeOf(context, { tenantID: "evil" });
