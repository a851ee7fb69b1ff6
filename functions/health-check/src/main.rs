use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::health_check;

// One thread: a 128 MB Lambda has a fraction of a vCPU, and worker threads only cost start-up.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let client = stackgate::webhook::WebhookClient::new()?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        health_check::handle(&client, event)
    }))
    .await
}
