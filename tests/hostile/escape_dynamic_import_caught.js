// expect: ok "rejected"
// limits: timeout_ms=1000 fuel=max memory_mb=32
(async () => {
  for (const specifier of ["fs", "./script.js", "/etc/passwd", "std", "os"]) {
    try {
      await import(specifier);
      return "loaded " + specifier;
    } catch (e) {
      // expected
    }
  }
  return "rejected";
})();
