// expect: ok ["TypeError", "TypeError", "TypeError"]
// limits: timeout_ms=1000 fuel=max memory_mb=32
// Arguments that are not JSON (a cycle, a BigInt) and a name that is not a string are
// refused in the script, before the host is asked.
const cyclic = {};
cyclic.self = cyclic;
[() => host.call("echo", cyclic), () => host.call("echo", 1n), () => host.call({ toString: () => "echo" }, 1)].map((f) => {
  try {
    f();
    return "called";
  } catch (e) {
    return e.name;
  }
});
