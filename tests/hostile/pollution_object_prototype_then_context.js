// expect: ok {"host": {"tenant": "t1", "request": "r1"}, "script": ["t1", "r1", "mine"]}
// limits: timeout_ms=1000 fuel=max memory_mb=32
// context: {"tenant": {"id": "t1"}, "requestId": "r1"}
// Pollutes Object.prototype (plain keys, setters, toJSON) before the first read of
// `context`: the context keeps its own values, the host still sees the real tenant, and
// the next execution (checked by the suite) sees a clean Object.prototype.
Object.prototype.tenantID = "evil";
Object.prototype.requestID = "evil";
Object.defineProperty(Object.prototype, "id", {
  get() {
    return "evil";
  },
  set(v) {},
  configurable: true,
});
Object.prototype.user = { id: "evil", permissions: ["admin"] };
Object.defineProperty(Array.prototype, "0", { value: "evil", writable: true, configurable: true });
globalThis.marker = "left behind";
const seen = [context.tenantID, context.tenant.id, context.requestID];
({
  host: host.call("whoami"),
  script: [seen[0], seen[2], "mine"],
});
