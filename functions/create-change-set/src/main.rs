use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::create_change_set;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let clients = stackgate::aws::Clients::from_env().await;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        create_change_set::handle(&clients, event)
    }))
    .await
}
