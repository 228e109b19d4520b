// expect: memory_limit
// limits: timeout_ms=5000 fuel=max memory_mb=32
// btoa of a 12 MiB string of U+00FF under a 32 MiB cap: the string fits, but its UTF-8
// form (24 MiB) and the 16 MiB of base64 cannot, and the guest's buffers come from
// QuickJS's heap, so this is QuickJS's out-of-memory error, not a trap. Even if btoa
// got through, atob of its result would need as much again.
const s = "\u00ff".repeat(12 * 1024 * 1024);
atob(btoa(s)).length;
