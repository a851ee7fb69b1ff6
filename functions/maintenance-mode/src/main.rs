use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::maintenance_mode;

// One thread: a 128 MB Lambda has a fraction of a vCPU, and worker threads only cost start-up.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let config = stackgate::aws::sdk::sdk_config();
    let events = aws_sdk_eventbridge::Client::new(&config);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        maintenance_mode::handle(&events, event)
    }))
    .await
}
