// expect: memory_limit
// limits: timeout_ms=10000 fuel=max memory_mb=32
// A cyclic graph that takes much of the heap, cloned once: the clone (its objects, the
// map from each source object to its clone, the stack of containers still to fill)
// needs more than is left, and ends as a clean memory-limit error under QuickJS's heap
// limit, not a trap, with the runtime fine afterwards. Every node points at others and
// at the whole list.
const nodes = [];
for (let i = 0; i < 60000; i++) nodes.push({ i, label: "node " + i, peers: [] });
for (const node of nodes) {
  node.peers.push(nodes[(node.i * 7919) % nodes.length], nodes[(node.i + 1) % nodes.length], nodes);
}
const copy = structuredClone(nodes);
[copy.length, copy[1].peers[2] === copy];
