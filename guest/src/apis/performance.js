// The JavaScript part of `performance` (see performance.rs). Runs once, at
// pre-initialization, in the run context (strict mode); called with the natives
// `{ now, timeOrigin }`. Everything it uses is captured here, before any script runs.
(({ now, timeOrigin }) => {
  const g = globalThis;
  const { defineProperty, getOwnPropertyDescriptor, create } = Object;
  const TypeErrorCtor = TypeError;

  // The one instance; methods called on anything else throw, as WebIDL's brand checks do.
  let instance;
  const check = (self) => {
    if (self !== instance) throw new TypeErrorCtor("Illegal invocation");
  };
  function Performance() {
    throw new TypeErrorCtor("Illegal constructor");
  }
  const proto = Performance.prototype;
  const method = (name, f) =>
    defineProperty(proto, name, { __proto__: null, value: f, writable: true, enumerable: true, configurable: true });
  method(
    "now",
    {
      now() {
        check(this);
        return now();
      },
    }.now,
  );
  method(
    "toJSON",
    {
      toJSON() {
        check(this);
        return { timeOrigin: timeOrigin() };
      },
    }.toJSON,
  );
  const getter = getOwnPropertyDescriptor(
    {
      get timeOrigin() {
        check(this);
        return timeOrigin();
      },
    },
    "timeOrigin",
  ).get;
  defineProperty(proto, "timeOrigin", { __proto__: null, get: getter, enumerable: true, configurable: true });
  defineProperty(proto, Symbol.toStringTag, { __proto__: null, value: "Performance", configurable: true });
  defineProperty(Performance, "prototype", { __proto__: null, writable: false });
  instance = create(proto);
  // Interface objects: writable, not enumerable, configurable; `performance` is a
  // [Replaceable] attribute of the global, which a data property serves.
  defineProperty(g, "Performance", { __proto__: null, value: Performance, writable: true, enumerable: false, configurable: true });
  defineProperty(g, "performance", { __proto__: null, value: instance, writable: true, enumerable: true, configurable: true });
});
