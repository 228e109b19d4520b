// The JavaScript part of `context` (see context.rs). Runs once, at pre-initialization,
// in the run context (strict mode); called with `{ build }`, the native builder of the
// frozen object.
(({ build: nativeContext }) => {
  const defineProperty = Object.defineProperty;
  // `context` is built on first use: a script that never reads it costs no host call.
  // The native side builds it already frozen; it is kept for the rest of the run, so
  // every read sees the same object.
  let contextObject;
  defineProperty(globalThis, "context", {
    get() {
      if (contextObject === undefined) contextObject = nativeContext();
      return contextObject;
    },
    enumerable: false,
    configurable: false,
  });
});
