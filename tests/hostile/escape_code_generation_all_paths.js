// expect: ok ["TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError", "TypeError"]
// limits: timeout_ms=1000 fuel=max memory_mb=32
// Every way to turn a string into code, each caught: all refuse with a TypeError.
const attempts = [
  () => eval("1"),
  () => Function("return 1")(),
  () => new Function("return 1")(),
  () => Function.prototype.constructor("return 1")(),
  () => Object.getPrototypeOf(async function () {}).constructor("return 1"),
  () => Object.getPrototypeOf(function* () {}).constructor("yield 1"),
  () => Object.getPrototypeOf(async function* () {}).constructor("yield 1"),
  () => Reflect.construct(Function, ["return 1"]),
];
attempts.map((attempt) => {
  try {
    attempt();
    return "ran";
  } catch (e) {
    return e.name;
  }
});
