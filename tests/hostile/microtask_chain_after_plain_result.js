// expect: timeout
// limits: timeout_ms=300 fuel=max memory_mb=32
// The script returns a plain value but leaves an endless chain of jobs behind: the jobs
// still run (their effects are part of the execution), so the timeout stops them.
(function spin() {
  Promise.resolve().then(spin);
})();
42;
