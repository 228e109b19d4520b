// expect: ok ["a\ufffdb", {"\ufffd": "\ufffd"}]
// limits: timeout_ms=1000 fuel=max memory_mb=32
// Arguments to a host function with lone surrogates reach it with U+FFFD, as results
// and logs do.
[host.call("echo", "a\ud800b"), host.call("echo", { "\udc00": "\udbff" })];
