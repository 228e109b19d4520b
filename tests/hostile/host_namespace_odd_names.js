// expect: ok {"proto": null, "frozen": true, "keys": ["Object", "__proto__", "call", "constructor", "echo", "fail", "hang", "toString", "whoami"], "callIsTheDispatcher": 5, "hostFnNamedCall": {"x": 1}, "constructor": {"y": 2}, "toString": 3, "protoNamespace": [null, true, 4], "objectNamespace": 6, "objectPrototypeClean": [true, true, true]}
// limits: timeout_ms=1000 fuel=max memory_mb=32
// The suite's runtime also registers host functions with awkward names ("call",
// "constructor", "toString", "__proto__.polluted", "Object.prototype.polluted"). The
// `host` object built from them has no prototype, is frozen, keeps `host.call` as the
// dispatcher (the function named "call" is reachable through it), and touches no
// built-in prototype.
const h = host;
const proto = h.__proto__;
({
  proto: Object.getPrototypeOf(h),
  frozen: Object.isFrozen(h),
  keys: Reflect.ownKeys(h).sort(),
  callIsTheDispatcher: h.call("echo", 5),
  hostFnNamedCall: h.call("call", { x: 1 }),
  constructor: h.constructor({ y: 2 }),
  toString: h.toString(3),
  protoNamespace: [Object.getPrototypeOf(proto), Object.isFrozen(proto), proto.polluted(4)],
  objectNamespace: h.Object.prototype.polluted(6),
  objectPrototypeClean: [
    ({}).polluted === undefined,
    Object.prototype.polluted === undefined,
    ({}).constructor === Object,
  ],
});
