// expect: memory_limit
// limits: timeout_ms=3000 fuel=max memory_mb=32
// A backtracking regex over a long input: QuickJS keeps its backtrack stack on the
// heap, and 1,000,000 repetitions need far more than 32 MiB of it (100,000 need about
// 28 MiB and succeed, `false`). Past the limit QuickJS throws "InternalError: out of
// memory in regexp execution": that is the memory limit, like any allocation that
// fails at the heap limit.
/^(a|b)*c$/.test("ab".repeat(1000000));
