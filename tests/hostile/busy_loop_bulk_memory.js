// expect: timeout
// limits: timeout_ms=200 fuel=max memory_mb=64
// One bulk-memory operation after another, each moving 24 MiB (QuickJS's memmove is a
// single memory.copy instruction): the deadline is checked at fuel yields, and wasmtime
// charges memory.copy one unit of fuel per byte, before the copy, so every copy this
// large yields first and the deadline stops the loop late by at most one copy, whose
// size the memory cap bounds.
const bytes = new Uint8Array(24 * 1024 * 1024);
while (true) bytes.copyWithin(1, 0);
