// expect: ok ["TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "t1", ["read"]]
// limits: timeout_ms=1000 fuel=max memory_mb=32
// context: {"tenant": {"id": "t1"}, "user": {"id": "u1", "permissions": ["read"]}}
// Every way to change `context` or what it holds fails with a TypeError, and it still
// holds what the host gave.
const attempts = [
  () => {
    context.tenantID = "evil";
  },
  () => {
    delete context.tenant;
  },
  () => {
    context.tenant.id = "evil";
  },
  () => context.user.permissions.push("admin"),
  () => Object.defineProperty(context, "extra", { value: 1 }),
  () => Object.defineProperty(globalThis, "context", { value: { tenantID: "evil" } }),
  () => {
    globalThis.context = { tenantID: "evil" };
  },
];
attempts
  .map((attempt) => {
    try {
      attempt();
      return "changed";
    } catch (e) {
      return e.name;
    }
  })
  .concat([context.tenantID, context.user.permissions]);
