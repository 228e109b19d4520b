// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
// console.log converts a function with String(): its own toString loops.
const f = function () {};
f.toString = () => {
  for (;;) {}
};
console.log(f);
