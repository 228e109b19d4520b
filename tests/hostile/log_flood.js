// expect: ok "done"
// limits: timeout_ms=5000 fuel=max memory_mb=32 log_bytes=4096
// expect-last-log-contains: dropped
// Far more output than the 4 KiB log cap: the run succeeds, the kept logs fit the cap,
// and the last record says how much was dropped.
for (let i = 0; i < 20000; i++) console.log("line " + i + " " + "x".repeat(40));
"done";
