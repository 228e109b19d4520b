// expect: memory_limit
// limits: timeout_ms=5000 fuel=max memory_mb=16
// Millions of pending timers that never fire: each holds a callback in the guest's
// memory, so the flood ends at the memory cap, not in a host-side queue.
for (let i = 0; ; i++) setTimeout(() => {}, 1e9);
