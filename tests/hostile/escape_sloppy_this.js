// expect: ok "undefined"
// limits: timeout_ms=1000 fuel=max memory_mb=32
// A plain function call has no `this` in strict mode.
typeof (function () {
  return this;
})();
