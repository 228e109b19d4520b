// expect: ok [["function", 5], [true, "t1", "TypeError"], [true, true]]
// limits: timeout_ms=1000 fuel=max memory_mb=32
// context: {"tenant": {"id": "t1"}}
// Adds `get`, `set` and `writable` to Object.prototype before the first read of `host`
// and `context`. `Object.defineProperty` reads a descriptor's fields through its
// prototype chain, so descriptors built from plain object literals would pick these up:
// every host function would be refused as "both accessor and value", or gain the
// script's getter.
let calls = 0;
Object.prototype.get = function () { calls++; return "evil"; };
Object.prototype.set = function () { calls++; };
Object.prototype.writable = true;
const hostView = [typeof host.echo, host.echo(5)];
const contextView = [Object.isFrozen(context), context.tenantID, (() => {
  try { context.tenantID = "t2"; return "no error"; } catch (e) { return e.name; }
})()];
delete Object.prototype.get;
delete Object.prototype.set;
delete Object.prototype.writable;
[hostView, contextView, [calls === 0, Object.isFrozen(host)]]
