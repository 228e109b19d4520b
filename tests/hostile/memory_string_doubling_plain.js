// expect: exception
// limits: timeout_ms=3000 fuel=max memory_mb=32
// expect-name: InternalError
// expect-message: string too long
// `s += s` builds ropes, so memory stays small and the string reaches QuickJS's
// longest length (2^30 - 1) first: a catchable error, not a memory problem.
let s = "xy";
for (;;) s += s;
