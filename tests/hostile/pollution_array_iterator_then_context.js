// expect: ok [["TypeError", "TypeError", "TypeError", "TypeError"], [true, true, true, true], ["a"], ["echo"]]
// limits: timeout_ms=1000 fuel=max memory_mb=32
// context: {"tenant": {"id": "t1", "name": "Acme"}, "user": {"id": "u1", "permissions": ["a"]}}
// Replaces the array iterator before the first read of `context` and `host`: the code
// that freezes them must not iterate with it (a `for...of` would see no keys and leave
// every nested object unfrozen), and `host` must still get its functions.
Array.prototype[Symbol.iterator] = function* () {};
const attempts = [
  () => context.user.permissions.push("admin"),
  () => { context.user.id = "root"; },
  () => { context.tenant.name = "Evil"; },
  () => { context.tenantID = "t2"; },
];
const errors = attempts.map((attempt) => {
  try { attempt(); return "no error"; } catch (e) { return e.name; }
});
const frozen = [context, context.tenant, context.user, context.user.permissions].map(Object.isFrozen);
[errors, frozen, Array.from({ length: context.user.permissions.length }, (_, i) => context.user.permissions[i]),
  Object.getOwnPropertyNames(host).filter((k) => k === "echo")]
