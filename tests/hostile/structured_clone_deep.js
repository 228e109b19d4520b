// expect: ok 100000
// limits: timeout_ms=10000 fuel=max memory_mb=128
// A chain of objects 100,000 deep: a recursive clone would run out of native stack long
// before (JSON.stringify overflows at a few thousand levels). structuredClone keeps its
// own stack in the heap, so the depth costs memory (bounded by the heap limit) and the
// clone completes.
let deep = {};
const root = deep;
for (let i = 0; i < 100000; i++) deep = deep.next = {};
let copy = structuredClone(root);
let depth = 0;
while (copy.next) {
  copy = copy.next;
  depth++;
}
depth;
