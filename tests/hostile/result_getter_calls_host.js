// expect: ok {"a": {"x": 1}}
// limits: timeout_ms=1000 fuel=max memory_mb=32
// A getter that calls a host function while the result is read: allowed, and counted.
({
  get a() {
    return host.call("echo", { x: 1 });
  },
});
