// expect: syntax
// limits: timeout_ms=1000 fuel=max memory_mb=32
// Scripts are strict-mode code: `with` does not parse.
with (globalThis) {
  process;
}
