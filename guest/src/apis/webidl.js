// The JavaScript part of `webidl` (see webidl.rs). Runs once, at pre-initialization, in
// the run context (strict mode); installs no global and returns the helpers the web API
// modules share. Everything it uses is captured here, before any script runs; the
// helpers that run later (the conversions) use nothing a script can replace.
(() => {
  const g = globalThis;
  const { defineProperty, getOwnPropertyNames, getOwnPropertyDescriptor, freeze } = Object;
  const TypeErrorCtor = TypeError;
  const toStringTag = Symbol.toStringTag;

  // Makes the own properties of `object` enumerable, except the names `skip` accepts.
  // Only at install time: the descriptors have Object.prototype, which no script has
  // touched yet.
  const makeEnumerable = (object, skip) => {
    const keys = getOwnPropertyNames(object);
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (skip(key)) continue;
      const descriptor = getOwnPropertyDescriptor(object, key);
      descriptor.enumerable = true;
      defineProperty(object, key, descriptor);
    }
  };

  // Turns a class (or constructor function) into a WebIDL interface object named `name`:
  // the regular operations and attributes on its prototype and the static ones on it are
  // enumerable ("Operations", "Attributes"; a class body makes them not enumerable), the
  // prototype has `Symbol.toStringTag` ("Interface prototype object"), and each constant
  // of `constants` (an object of name: number) is on both ("Constants").
  const defineInterface = (ctor, name, constants) => {
    const proto = ctor.prototype;
    makeEnumerable(proto, (key) => key === "constructor");
    makeEnumerable(ctor, (key) => key === "length" || key === "name" || key === "prototype");
    defineProperty(proto, toStringTag, {
      __proto__: null,
      value: name,
      writable: false,
      enumerable: false,
      configurable: true,
    });
    if (constants !== undefined) {
      const keys = getOwnPropertyNames(constants);
      for (let i = 0; i < keys.length; i++) {
        const descriptor = {
          __proto__: null,
          value: constants[keys[i]],
          writable: false,
          enumerable: true,
          configurable: false,
        };
        defineProperty(ctor, keys[i], descriptor);
        defineProperty(proto, keys[i], descriptor);
      }
    }
    return ctor;
  };

  // An interface object on the global: writable, configurable, not enumerable
  // (DefineMethodProperty in "define the global property references").
  const exposeInterface = (name, ctor) =>
    defineProperty(g, name, { __proto__: null, value: ctor, writable: true, enumerable: false, configurable: true });

  // An operation of the global object itself (`atob`): writable, configurable and
  // enumerable ("Operations").
  const exposeOperation = (name, fn) =>
    defineProperty(g, name, { __proto__: null, value: fn, writable: true, enumerable: true, configurable: true });

  // The overload resolution's first step: too few arguments is a TypeError.
  const requireArguments = (count, required, context) => {
    if (count < required) {
      const plural = required === 1 ? "" : "s";
      throw new TypeErrorCtor(`${context}: ${required} argument${plural} required, but only ${count} present.`);
    }
  };

  // `DOMString` (and, before the native side replaces lone surrogates, `USVString`):
  // ECMAScript ToString, which throws a TypeError for a Symbol.
  const toDOMString = (value) => (typeof value === "string" ? value : `${value}`);

  // A dictionary argument: `undefined` and `null` are the empty dictionary (returned as
  // `undefined`), any other non-object is a TypeError. Members are then read with
  // ordinary property access, as WebIDL does (through the prototype chain).
  const dictionary = (value, context) => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "object" && typeof value !== "function") {
      throw new TypeErrorCtor(`${context}: the argument is not an object.`);
    }
    return value;
  };

  // What a constructor that a script may not call throws ("Illegal constructor").
  const illegalConstructor = () => new TypeErrorCtor("Illegal constructor");

  return freeze({
    __proto__: null,
    defineInterface,
    exposeInterface,
    exposeOperation,
    requireArguments,
    toDOMString,
    dictionary,
    illegalConstructor,
  });
});
