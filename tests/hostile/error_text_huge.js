// expect: exception
// limits: timeout_ms=5000 fuel=max memory_mb=128 output_bytes=65536
// expect-name-max-bytes: 65536
// expect-message-max-bytes: 65536
// expect-stack-max-bytes: 65536
// An error whose name, message and stack are tens of MiB: what the host gets back from
// a failed execution must be bounded like a result is (here by the 64 KiB output limit),
// or one execution hands the embedder (and its logs) as much text as its memory limit.
const e = new Error("m".repeat(20 * 2 ** 20));
e.name = "N".repeat(8 * 2 ** 20);
e.stack = "s".repeat(20 * 2 ** 20);
throw e;
