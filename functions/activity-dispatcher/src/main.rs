use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::activity_dispatcher;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let clients = activity_dispatcher::DispatcherClients::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        activity_dispatcher::handle(&clients, event)
    }))
    .await
}
