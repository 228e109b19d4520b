// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: Error
// expect-message: "bad \ufffd message"
throw new Error("bad \udbff message");
