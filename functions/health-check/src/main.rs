use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::health_check;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let client = stackgate::webhook::WebhookClient::new()?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        health_check::handle(&client, event)
    }))
    .await
}
