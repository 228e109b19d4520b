// expect: out_of_fuel
// limits: timeout_ms=5000 fuel=20000000 memory_mb=32
// A plain busy loop under a small CPU budget and a long timeout: fuel stops it.
let n = 0;
for (;;) n++;
