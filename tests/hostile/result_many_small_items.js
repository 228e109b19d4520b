// expect: output_limit
// limits: timeout_ms=2000 fuel=max memory_mb=32 output_bytes=65536
new Array(100000).fill(1);
