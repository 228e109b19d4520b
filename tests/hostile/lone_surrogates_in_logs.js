// expect: ok null
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-logs: ["x\ufffdy", "[\"\\ud800\"]", "\ud83d\ude00\ufffd"]
// A log message with a lone surrogate comes back with U+FFFD; inside an object it is
// logged as JSON, where it stays escaped.
console.log("x\ud800y");
console.info(["\ud800"]);
console.warn("\ud83d\ude00\udc00");
