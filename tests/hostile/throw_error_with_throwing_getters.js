// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: none
// Every property the host reads throws: the error is still reported.
const e = new Error("x");
for (const key of ["name", "message", "stack"]) {
  Object.defineProperty(e, key, {
    get() {
      throw new Error("no " + key);
    },
  });
}
throw e;
