// expect: timeout
// limits: timeout_ms=300 fuel=max memory_mb=32 stack_kb=1024
// QuickJS's JSON.stringify checks each level against every enclosing one, so a deep
// (20,000 levels) but small object costs quadratic time, and under a 1 MiB stack it
// does not overflow first: cheap for the script to ask for, bounded by the timeout.
let o = null;
for (let i = 0; i < 20000; i++) o = [o];
JSON.stringify(o).length;
