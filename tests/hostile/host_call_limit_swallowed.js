// expect: host_call_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32 host_calls=100
// The call past the limit ends the instance: catching cannot keep the script going.
for (;;) {
  try {
    host.call("echo", "again");
  } catch (e) {
    // swallowed
  }
}
