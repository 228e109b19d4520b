// expect: ok ["InternalError: out of memory", "InternalError: out of memory", "InternalError: out of memory", "InternalError: out of memory", 4]
// limits: timeout_ms=3000 fuel=max memory_mb=32
// Allocations past the limit fail with a catchable error and allocate nothing, so a
// script that catches them may carry on within its limit (what it cannot do is get the
// memory). The last entry proves it still runs normally afterwards.
const out = [];
const attempts = [
  () => new ArrayBuffer(2 ** 30),
  () => new Float64Array(2 ** 27),
  () => "x".repeat(2 ** 28),
  () => new Array(2 ** 32 - 1).fill(0),
];
for (const attempt of attempts) {
  try {
    attempt();
    out.push("allocated");
  } catch (e) {
    out.push(String(e));
  }
}
out.push([1, 2, 3, 4].length);
out;
