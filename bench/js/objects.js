// Object and array churn: 100k objects through map/filter/reduce, a JSON round trip
// of the survivors, and a sort.
(function () {
  // MINSTD: exact in doubles, so every engine draws the same sequence.
  let seed = 42;
  function next() {
    seed = (seed * 48271) % 2147483647;
    return seed;
  }
  const N = 100000;
  const items = [];
  for (let i = 0; i < N; i++) {
    items.push({
      id: i,
      name: "item-" + i,
      price: (next() % 10000) / 100,
      qty: next() % 13,
      tags: ["t" + (i % 5), "g" + (i % 3)],
    });
  }
  const lines = items.map((item) => ({ id: item.id, total: item.price * item.qty, tag: item.tags[0] }));
  const large = lines.filter((line) => line.total > 100);
  const sum = large.reduce((acc, line) => acc + line.total, 0);
  const copy = JSON.parse(JSON.stringify(large));
  copy.sort((a, b) => b.total - a.total || a.id - b.id);
  const byTag = {};
  for (const line of copy) byTag[line.tag] = (byTag[line.tag] || 0) + 1;
  return { count: copy.length, sum: Math.round(sum), top: copy.slice(0, 3).map((line) => line.id), byTag };
})()
