// expect: exception
// limits: timeout_ms=5000 fuel=max memory_mb=128 output_bytes=65536
// expect-name: none
// expect-message-max-bytes: 65536
// A thrown string of 20 MiB: the same bound applies to the text of non-Error values.
throw "w".repeat(20 * 2 ** 20);
