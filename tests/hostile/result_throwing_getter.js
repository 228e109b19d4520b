// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: Error
// expect-message: boom from a getter
({
  ok: 1,
  get bad() {
    throw new Error("boom from a getter");
  },
});
