use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::check_stack;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let clients = stackgate::aws::Clients::from_env().await;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        check_stack::handle(&clients, event)
    }))
    .await
}
