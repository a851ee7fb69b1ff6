use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::maintenance_mode;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let config = stackgate::aws::sdk::sdk_config();
    let events = aws_sdk_eventbridge::Client::new(&config);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        maintenance_mode::handle(&events, event)
    }))
    .await
}
