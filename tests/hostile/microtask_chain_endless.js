// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=512
// Each job queues the next one, for ever, and the returned promise waits on the whole
// chain (so the chain also grows in memory: see memory_promise_chain.js). With room to
// spare, the timeout ends it.
function next() {
  return Promise.resolve().then(next);
}
next();
