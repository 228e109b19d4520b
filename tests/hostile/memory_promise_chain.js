// expect: memory_limit
// limits: timeout_ms=5000 fuel=max memory_mb=32
// The endless promise chain of microtask_chain_endless.js under a small memory limit and
// a long timeout: every link stays reachable from the returned promise, so memory runs
// out first.
function next() {
  return Promise.resolve().then(next);
}
next();
