use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::provision_starter;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let clients = provision_starter::StarterClients::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        provision_starter::handle(&clients, event)
    }))
    .await
}
