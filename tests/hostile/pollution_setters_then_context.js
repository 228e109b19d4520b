// expect: ok {"calls": 0, "own": [true, true, true, true, true], "values": ["t1", "Acme", "u1", "read", "en-GB"], "frozen": [true, true, true, true], "keys": ["tenantID", "tenant", "user", "requestID", "locale", "deadlineMs"]}
// limits: timeout_ms=1000 fuel=max memory_mb=32
// context: {"tenant": {"id": "t1", "name": "Acme"}, "user": {"id": "u1", "permissions": ["read"]}, "requestId": "r1", "locale": "en-GB"}
// Puts counting setters for every name the context uses on Object.prototype and on
// Array.prototype's first index, and replaces Object.freeze and JSON.parse, before the
// first read of `context`. The guest builds the context by defining properties and
// freezes it itself: no setter runs, every value is the object's own, and it is frozen.
let calls = 0;
const trap = (name, target) =>
  Object.defineProperty(target, name, {
    get() { return "evil"; },
    set(v) { calls++; },
    configurable: true,
  });
for (const name of ["tenantID", "tenant", "id", "name", "user", "permissions", "requestID", "locale", "deadlineMs"]) {
  trap(name, Object.prototype);
}
trap("0", Array.prototype);
Object.freeze = (o) => o;
JSON.parse = () => ({ tenantID: "evil" });
const c = context;
const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
({
  calls,
  own: [own(c, "tenantID"), own(c.tenant, "name"), own(c.user, "id"), own(c.user.permissions, "0"), own(c, "locale")],
  values: [c.tenantID, c.tenant.name, c.user.id, c.user.permissions[0], c.locale],
  frozen: [c, c.tenant, c.user, c.user.permissions].map(Object.isFrozen),
  keys: Object.keys(c),
});
