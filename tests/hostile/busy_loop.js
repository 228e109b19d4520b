// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=32
// A plain busy loop: only the wall-clock timeout stops it.
while (true) {}
