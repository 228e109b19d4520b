// A tenant's pricing rule, as a handler: the service calls its default export with the
// cart as input. It reads the caller's context, logs, calls host functions, imports the
// shared tax module, and returns its result as JSON.
import { withTax } from "./lib/tax.js";

export default function price(cart) {
  const subtotal = cart.items.reduce((sum, item) => sum + item.price * item.qty, 0);
  const discount = context.user.permissions.includes("discounts.apply") ? 0.1 : 0;
  console.log(`pricing ${cart.items.length} items for ${context.tenant.name} (${context.requestID})`);
  return {
    tenant: host.call("demo.tenant"),
    subtotal,
    total: withTax(subtotal * (1 - discount), cart.region),
    echoed: host.call("demo.echo", { locale: context.locale }),
  };
}
