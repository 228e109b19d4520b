// Recursive Fibonacci: function calls and small-integer arithmetic.
// Wrapped in a function so the same script can run again in a reused context.
(function () {
  function fib(n) {
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
  }
  return fib(27);
})()
