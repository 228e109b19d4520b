// expect: exception
// limits: timeout_ms=1000 fuel=max memory_mb=32
// expect-name: ReferenceError
// expect-message-contains: could not load module
// There is no module loader: dynamic import rejects, and the rejection is the result.
import("data:text/javascript,export default globalThis");
