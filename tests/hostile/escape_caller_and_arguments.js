// expect: ok ["TypeError", "TypeError", "TypeError", "TypeError"]
// limits: timeout_ms=1000 fuel=max memory_mb=32
// Strict mode: no walking up to a caller (the prelude's closures) through
// `caller` or `arguments`.
const probes = [
  () => host.call.caller,
  () => host.call.arguments,
  () => console.log.caller,
  function () {
    return arguments.callee;
  },
];
probes.map((probe) => {
  try {
    probe();
    return "read";
  } catch (e) {
    return e.name;
  }
});
