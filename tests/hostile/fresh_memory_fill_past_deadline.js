// expect: timeout
// limits: timeout_ms=5 fuel=max memory_mb=64
// One bulk-memory operation over memory touched for the first time: zeroing the 48 MiB
// buffer is one memory.fill, which runs uninterrupted and whose cost is mostly the
// kernel's page faults (about 0.7 ms per MiB on the benchmark machine, so well past this
// 5 ms deadline). The deadline is seen at the first fuel yield after it, and the
// execution ends in `timeout`: late by that one operation, which the memory cap bounds.
const bytes = new Uint8Array(48 * 1024 * 1024);
while (true) {}
