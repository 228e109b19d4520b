//! A service embedding jsruntime: a runtime with one host function, and a tenant's script
//! that calls it. Run it with `cargo run` here, or `make embed-test` at the top.

use std::time::Duration;

use jsruntime::{Config, ExecContext, ExecRequest, HostFnError, Runtime, Tenant, User};
use serde_json::json;

/// The service's own data, owned by tenants.
fn load_order(id: i64) -> serde_json::Value {
    json!({ "id": id, "tenant_id": "t1", "total": 100.0 })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runtime = Runtime::builder()
        .config(Config::default())
        // The script calls host.call("orders.get", {id: 1}), or host.orders.get({id: 1}).
        .host_fn("orders.get", |call| async move {
            let order = load_order(call.args["id"].as_i64().unwrap_or(0));
            // Refuse another tenant's data.
            let owner = order["tenant_id"].as_str().unwrap_or_default().to_owned();
            call.context
                .ensure_tenant(&owner)
                .map_err(|e| HostFnError::new(e.to_string()))?;
            Ok(order)
        })
        .build()?;

    let context = ExecContext::default()
        .with_tenant(Tenant {
            id: "t1".into(),
            name: Some("Acme".into()),
        })
        .with_user(User {
            id: "u1".into(),
            permissions: vec!["orders.read".into()],
            ..User::default()
        })
        .with_request_id("req-123");
    let script = "const order = host.orders.get({id: 7});
        console.log(`pricing order ${order.id} for ${context.tenant.name}`);
        ({ id: order.id, price: order.total * 1.2 })";
    let request = ExecRequest::source(script)
        .context(context)
        .timeout(Duration::from_millis(500));

    let outcome = runtime.execute(&request).await?;
    for record in &outcome.logs {
        println!("log: {}", record.message);
    }
    println!("result: {}", outcome.value);
    println!(
        "fuel {}, {} host call(s), {} us",
        outcome.stats.fuel_used, outcome.stats.host_calls, outcome.stats.wall_us
    );
    anyhow::ensure!(
        outcome.value == json!({ "id": 7, "price": 120 }),
        "unexpected result {}",
        outcome.value
    );
    Ok(())
}
