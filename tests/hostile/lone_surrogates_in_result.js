// expect: ok ["\ufffd", "a\ufffdb", "\ufffd\ufffd", "\ud83d\ude00", {"\ufffd": "key"}]
// limits: timeout_ms=1000 fuel=max memory_mb=32
// Lone surrogates (invalid UTF-16) become U+FFFD; a valid pair is kept.
["\ud800", "a\udc00b", "\udc00\ud800", "\ud83d\ude00", { "\udfff": "key" }];
