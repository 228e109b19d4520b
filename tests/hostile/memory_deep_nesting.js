// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
// Nesting built iteratively (no recursion): only memory stops it.
let o = {};
for (;;) o = { o };
