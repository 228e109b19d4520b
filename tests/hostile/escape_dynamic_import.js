// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: TypeError
// expect-message-contains: the runtime has no module loader
// There is no module loader here: a dynamic import of a data: URL is one more name the
// (absent) loader would be asked for; it rejects, and the rejection is the result.
import("data:text/javascript,export default globalThis");
