// expect: host_call_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32 host_calls=100
for (let i = 0; ; i++) host.call("echo", i);
