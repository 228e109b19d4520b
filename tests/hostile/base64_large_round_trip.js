// expect: ok [true, 4194304, 3145728]
// limits: timeout_ms=5000 fuel=max memory_mb=64
// A 3 MiB round trip through btoa and atob, every byte value, within a 64 MiB cap and in
// time: the native code does it without a per-character loop in JavaScript.
let all = "";
for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
const s = all.repeat(3 * 4096);
const encoded = btoa(s);
[atob(encoded) === s, encoded.length, s.length];
