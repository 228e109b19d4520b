// expect: host_call_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32 host_calls=50
// Calls that fail (unknown names, failing functions) count against the limit too.
for (let i = 0; ; i++) {
  try {
    host.call(i % 2 ? "no.such.function" : "fail", i);
  } catch (e) {
    // swallowed
  }
}
