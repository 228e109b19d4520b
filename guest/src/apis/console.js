// The JavaScript part of `console` (see console.rs). Runs once, at pre-initialization,
// in the run context (strict mode); called with `{ log }`, the native `log(level, text)`.
// Everything it uses is captured here, before any script runs.
(({ log: nativeLog }) => {
  const g = globalThis;
  const { freeze, defineProperty, getOwnPropertyNames } = Object;
  const stringify = JSON.stringify;
  const toText = String;
  const join = Function.prototype.call.bind(Array.prototype.join);
  const map = Function.prototype.call.bind(Array.prototype.map);
  const ErrorCtor = Error;

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

  // The levels are the native side's numbers (see `level` in console.rs).
  const levels = { debug: 0, log: 1, info: 1, warn: 2, error: 3 };
  const consoleObject = {};
  // A `for...of` is safe here and only here: no script has run yet.
  for (const name of getOwnPropertyNames(levels)) {
    const level = levels[name];
    consoleObject[name] = function (...args) {
      nativeLog(level, join(map(args, formatArg), " "));
    };
  }
  defineProperty(g, "console", { value: freeze(consoleObject), writable: false, enumerable: false, configurable: false });
});
