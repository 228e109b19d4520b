// The JavaScript part of the timers (see timers.rs). Runs once, at pre-initialization,
// in the run context (strict mode); called with the natives `{ set, clear }`.
// Everything it uses is captured here, before any script runs.
(({ set, clear }) => {
  const g = globalThis;
  const { defineProperty } = Object;
  const apply = Reflect.apply;
  const TypeErrorCtor = TypeError;

  // `timeout | 0` is ToInt32: WebIDL's conversion to `long` (NaN and infinities are 0,
  // fractions truncate, values wrap modulo 2^32). The native side makes negatives 0.
  const timer = (name, repeat) =>
    ({
      [name](handler, timeout = 0, ...args) {
        if (typeof handler !== "function") {
          throw new TypeErrorCtor(
            `${name}: the handler must be a function (code in a string would need eval, which the sandbox does not have)`,
          );
        }
        return set(() => apply(handler, g, args), timeout | 0, repeat);
      },
    })[name];
  const clearer = (name) =>
    ({
      [name](id = 0) {
        clear(id | 0);
      },
    })[name];

  // Operations of the global object: writable, enumerable and configurable (WebIDL).
  const define = (name, value) =>
    defineProperty(g, name, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
  define("setTimeout", timer("setTimeout", false));
  define("setInterval", timer("setInterval", true));
  define("clearTimeout", clearer("clearTimeout"));
  define("clearInterval", clearer("clearInterval"));
});
