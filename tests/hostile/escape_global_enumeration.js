// expect: ok []
// limits: timeout_ms=1000 fuel=max memory_mb=32
// Walks every own key (strings and symbols) of the global object, its prototypes and
// the APIs the sandbox installs, looking for anything named like a host binding.
const suspicious = /jsruntime|wasi|javy|native|__/i;
const seen = new Set();
const found = [];
const visit = (label, object) => {
  for (let o = object; o !== null && !seen.has(o); o = Object.getPrototypeOf(o)) {
    seen.add(o);
    for (const key of Reflect.ownKeys(o)) {
      const text = String(key);
      if (suspicious.test(text) && text !== "__proto__" && !/^__(define|lookup)(Getter|Setter)__$/.test(text)) {
        found.push(label + "." + text);
      }
    }
  }
};
visit("globalThis", globalThis);
visit("console", console);
visit("host", host);
visit("host.call", host.call);
visit("context", context);
found;
