// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
// Doubling a string (flattened each time, so no rope can keep it small).
let s = "x";
for (;;) {
  s = s + s;
  s.charCodeAt(s.length - 1);
  s = s.split("").join("");
}
