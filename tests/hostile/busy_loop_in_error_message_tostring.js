// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
// The thrown error's message is an object whose toString loops: it runs while the
// error is being described for the host.
const error = new Error("placeholder");
Object.defineProperty(error, "message", {
  value: {
    toString() {
      for (;;) {}
    },
  },
});
throw error;
