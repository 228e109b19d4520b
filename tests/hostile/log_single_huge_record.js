// expect: ok "done"
// limits: timeout_ms=5000 fuel=max memory_mb=32 log_bytes=4096
// expect-last-log-contains: dropped
console.error("x".repeat(4 * 1024 * 1024));
"done";
