// JSON transform of a ~1 MB input: the input text is generated deterministically
// (the same bytes on every engine), parsed, reshaped and aggregated, and the reshaped
// document is serialized again.
(function () {
  let seed = 7;
  function next() {
    seed = (seed * 48271) % 2147483647;
    return seed;
  }
  const cities = ["Berlin", "Lisbon", "Oslo", "Paris", "Rome", "Vienna", "Warsaw", "Zurich"];
  const statuses = ["open", "paid", "shipped"];
  const rows = [];
  for (let i = 0; i < 5150; i++) {
    const items = [];
    for (let j = 0, n = 1 + (next() % 3); j < n; j++) {
      items.push(`{"sku":"SKU-${next() % 1000}","qty":${1 + (next() % 5)},"price":${(next() % 10000) / 100}}`);
    }
    rows.push(
      `{"id":${i},"customer":"customer-${next() % 500}","city":"${cities[next() % cities.length]}",` +
        `"status":"${statuses[next() % statuses.length]}","createdAt":"2024-${10 + (i % 3)}-${10 + (i % 19)}T12:00:00Z",` +
        `"items":[${items.join(",")}]}`
    );
  }
  const input = `{"orders":[${rows.join(",")}]}`;

  const data = JSON.parse(input);
  const orders = data.orders.map((order) => {
    const total = order.items.reduce((acc, item) => acc + item.qty * item.price, 0);
    return {
      id: order.id,
      customer: order.customer.toUpperCase(),
      city: order.city,
      status: order.status,
      day: order.createdAt.slice(0, 10),
      total: Math.round(total * 100) / 100,
      skus: order.items.map((item) => item.sku),
    };
  });
  const byCity = {};
  for (const order of orders) {
    const city = (byCity[order.city] ||= { orders: 0, revenue: 0, paid: 0 });
    city.orders += 1;
    city.revenue += order.total;
    if (order.status === "paid") city.paid += 1;
  }
  for (const city of Object.values(byCity)) city.revenue = Math.round(city.revenue);
  const output = JSON.stringify({ orders, byCity });
  return { inputBytes: input.length, outputBytes: output.length, orders: orders.length, byCity };
})()
