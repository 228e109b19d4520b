// expect: ok {"process": "undefined", "require": "undefined", "Deno": "undefined", "Bun": "undefined", "__wasi": "undefined", "WebAssembly": "undefined", "Javy": "undefined", "std": "undefined", "os": "undefined", "scriptArgs": "undefined", "print": "undefined", "module": "undefined", "exports": "undefined", "fetch": "undefined", "XMLHttpRequest": "undefined", "importScripts": "undefined", "Worker": "undefined", "__jsruntime_log": "undefined", "__jsruntime_call": "undefined", "__jsruntime_context": "undefined", "__jsruntime_deadline": "undefined"}
// limits: timeout_ms=1000 fuel=max memory_mb=32
// Nothing of the host or of WASI is reachable by name. (SharedArrayBuffer and Atomics
// exist, as standard built-ins: there is one agent and no thread to share one with, and
// Atomics.wait throws rather than block; see guest/vendor/rquickjs-sys/JSRUNTIME-PATCH.md.)
const names = [
  "process", "require", "Deno", "Bun", "__wasi", "WebAssembly", "Javy", "std", "os",
  "scriptArgs", "print", "module", "exports", "fetch", "XMLHttpRequest", "importScripts",
  "Worker", "__jsruntime_log", "__jsruntime_call",
  "__jsruntime_context", "__jsruntime_deadline",
];
const found = {};
for (const name of names) found[name] = typeof globalThis[name];
found;
