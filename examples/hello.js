// A tenant's pricing rule: reads the caller's context, logs, calls a host function,
// and returns its result as JSON.
const items = [
  { sku: "A-1", price: 12.5, qty: 2 },
  { sku: "B-7", price: 3.25, qty: 10 },
];
const subtotal = items.reduce((sum, item) => sum + item.price * item.qty, 0);
const discount = context.user.permissions.includes("discounts.apply") ? 0.1 : 0;
console.log(`pricing for ${context.tenant.name} (${context.requestID})`);
({
  tenant: host.call("demo.tenant"),
  subtotal,
  total: Math.round(subtotal * (1 - discount) * 100) / 100,
  echoed: host.call("demo.echo", { locale: context.locale }),
});
