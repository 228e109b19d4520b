// Runs once, at pre-initialization, in the run context (strict mode).
// It turns the native bindings (globals named __jsruntime_*) into the APIs scripts see:
// `console`, `host` and `context`, then removes the native names from the global object.
// Everything it uses is captured here, before any script runs, so a script that
// tampers with built-in prototypes cannot change how these APIs behave for the host.
(() => {
  const g = globalThis;
  const nativeLog = g.__jsruntime_log;
  const nativeCall = g.__jsruntime_call;
  const nativeContext = g.__jsruntime_context;
  const nativeFunctions = g.__jsruntime_functions;
  delete g.__jsruntime_functions;
  delete g.__jsruntime_log;
  delete g.__jsruntime_call;
  delete g.__jsruntime_context;

  const { freeze, defineProperty, getOwnPropertyNames, getOwnPropertyDescriptor, create } = Object;
  const hasOwn = Object.hasOwn;
  const split = Function.prototype.call.bind(String.prototype.split);
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const toText = String;
  const join = Function.prototype.call.bind(Array.prototype.join);
  const map = Function.prototype.call.bind(Array.prototype.map);
  const ErrorCtor = Error;

  // Runs when a script first reads `context` or `host`, so after the script may have
  // replaced built-ins: no iterator protocol (a `for...of` would call a replaced
  // `Array.prototype[Symbol.iterator]` and could skip every key), no `in` (it would see
  // properties added to `Object.prototype`), only the functions captured above.
  const deepFreeze = (value) => {
    if (value !== null && (typeof value === "object" || typeof value === "function")) {
      const keys = getOwnPropertyNames(value);
      for (let i = 0; i < keys.length; i++) {
        const descriptor = getOwnPropertyDescriptor(value, keys[i]);
        if (hasOwn(descriptor, "value")) deepFreeze(descriptor.value);
      }
      freeze(value);
    }
    return value;
  };

  // Formats one console argument roughly as a browser console does.
  const formatArg = (arg) => {
    if (typeof arg === "string") return arg;
    if (arg instanceof ErrorCtor) return arg.stack ? toText(arg) + "\n" + arg.stack : toText(arg);
    if (arg !== null && typeof arg === "object") {
      try {
        const text = stringify(arg);
        if (text !== undefined) return text;
      } catch (_) {
        // cyclic or holds a BigInt: fall back to the plain conversion below
      }
    }
    try {
      return toText(arg);
    } catch (_) {
      return "[unprintable]";
    }
  };

  const levels = { debug: 0, log: 1, info: 1, warn: 2, error: 3 };
  const consoleObject = {};
  for (const name of getOwnPropertyNames(levels)) {
    const level = levels[name];
    consoleObject[name] = function (...args) {
      nativeLog(level, join(map(args, formatArg), " "));
    };
  }
  defineProperty(g, "console", { value: freeze(consoleObject), writable: false, enumerable: false, configurable: false });

  const call = (name, args) => {
    if (typeof name !== "string") throw new TypeError("host.call: the function name must be a string");
    const argsJson = stringify(args === undefined ? null : args);
    return parse(nativeCall(name, argsJson));
  };
  // Descriptors have no prototype: `defineProperty` reads `get`, `set`, `value`, ... through
  // the prototype chain, so a script that added them to `Object.prototype` would change
  // what gets defined.
  const defineValue = (object, key, value) =>
    defineProperty(object, key, { __proto__: null, value, writable: false, enumerable: true, configurable: false });

  // `host.call(name, args)`, plus one function per registered name, nested by its dots:
  // `orders.get` becomes `host.orders.get(args)`. Namespaces have no prototype, so a
  // name like `__proto__.x` is just a name. Built on first use, then frozen.
  const buildHost = () => {
    const root = create(null);
    defineValue(root, "call", call);
    const names = parse(nativeFunctions());
    // Namespaces first, so `orders.get` wins over a function named `orders`; a name that
    // collides with a namespace or with `call` stays reachable through host.call.
    const namespaceOf = (parts, make) => {
      let node = root;
      for (let i = 0; i < parts.length - 1 && node !== undefined; i++) {
        const part = parts[i];
        if (!hasOwn(node, part) && make) defineValue(node, part, create(null));
        const next = node[part];
        node = next !== null && typeof next === "object" && next !== root ? next : undefined;
      }
      return node;
    };
    // Index loops, not `for...of`: see `deepFreeze`.
    for (let i = 0; i < names.length; i++) namespaceOf(split(names[i], "."), true);
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const parts = split(name, ".");
      const node = namespaceOf(parts, false);
      const leaf = parts[parts.length - 1];
      if (node !== undefined && !hasOwn(node, leaf)) defineValue(node, leaf, (args) => call(name, args));
    }
    return deepFreeze(root);
  };
  let hostObject;
  defineProperty(g, "host", {
    get() {
      if (hostObject === undefined) hostObject = buildHost();
      return hostObject;
    },
    enumerable: false,
    configurable: false,
  });

  // `context` is built on first use: a script that never reads it costs no host call.
  // The native side builds it already frozen (see guest/src/context.rs).
  let contextObject;
  defineProperty(g, "context", {
    get() {
      if (contextObject === undefined) contextObject = nativeContext();
      return contextObject;
    },
    enumerable: false,
    configurable: false,
  });
})();
