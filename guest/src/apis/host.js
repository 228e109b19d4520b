// The JavaScript part of `host` (see host.rs). Runs once, at pre-initialization, in the
// run context (strict mode); called with `{ call, start, functions }`, the native
// `call(name, argsJson)` (waits; returns the parsed result), `start(name, argsJson)`
// (returns a Promise of the parsed result) and `functions()` (a JSON array of
// `[name, isPromise]` pairs). Everything it uses is captured here, before any script runs.
(({ call: nativeCall, start: nativeStart, functions: nativeFunctions }) => {
  const g = globalThis;
  const { freeze, defineProperty, getOwnPropertyNames, getOwnPropertyDescriptor, create } = Object;
  const hasOwn = Object.hasOwn;
  const split = Function.prototype.call.bind(String.prototype.split);
  const stringify = JSON.stringify;
  const parse = JSON.parse;
  const TypeErrorCtor = TypeError;

  // Runs when a script first reads `host`, so after the script may have replaced
  // built-ins: no iterator protocol (a `for...of` would call a replaced
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

  // The names of the Promise functions (no prototype: a name is just a name). Filled
  // when `host` is built, which is before anything can call `call`.
  const promiseNames = create(null);
  const call = (name, args) => {
    if (typeof name !== "string") throw new TypeErrorCtor("host.call: the function name must be a string");
    // What JSON.stringify gives for a top-level `undefined`, function or Symbol (or a
    // `toJSON` that returns one) is `undefined`, not JSON text: send `null`, as JSON
    // does for such a value inside an array.
    const argsJson = stringify(args);
    const json = argsJson === undefined ? "null" : argsJson;
    // A Promise function's call returns its promise, through `host.call` too.
    if (hasOwn(promiseNames, name)) return nativeStart(name, json);
    return nativeCall(name, json);
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
    // `[name, isPromise]` pairs. Only read, never written: an assignment to an array
    // index would call a setter a script may have put on `Array.prototype`.
    const functions = parse(nativeFunctions());
    for (let i = 0; i < functions.length; i++) {
      if (functions[i][1]) promiseNames[functions[i][0]] = true;
    }
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
    for (let i = 0; i < functions.length; i++) namespaceOf(split(functions[i][0], "."), true);
    for (let i = 0; i < functions.length; i++) {
      const name = functions[i][0];
      const parts = split(name, ".");
      const node = namespaceOf(parts, false);
      const leaf = parts[parts.length - 1];
      if (node !== undefined && !hasOwn(node, leaf)) defineValue(node, leaf, (args) => call(name, args));
    }
    return deepFreeze(root);
  };
  // Built when a script first reads `host`: a script that never does costs no host call.
  let hostObject;
  defineProperty(g, "host", {
    get() {
      if (hostObject === undefined) hostObject = buildHost();
      return hostObject;
    },
    enumerable: false,
    configurable: false,
  });
});
