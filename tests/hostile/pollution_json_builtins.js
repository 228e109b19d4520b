// expect: ok [{"a": 1}, {"b": [2, 3]}, "t1"]
// limits: timeout_ms=1000 fuel=max memory_mb=32
// context: {"tenant": {"id": "t1"}}
// Replaces the JSON built-ins and Object.freeze: the host bridge captured its own
// copies before the script ran, so host calls, context and the result are unaffected.
JSON.stringify = () => {
  throw new Error("hijacked stringify");
};
JSON.parse = () => ({ hijacked: true });
Object.freeze = (o) => o;
Array.prototype.join = () => "hijacked";
Array.prototype.map = () => ["hijacked"];
String = () => "hijacked";
[host.call("echo", { a: 1 }), { b: [2, 3] }, context.tenantID];
