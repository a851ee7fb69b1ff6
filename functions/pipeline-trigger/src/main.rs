use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::pipeline_trigger;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let clients = stackgate::aws::PipelineClients::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        pipeline_trigger::handle(&clients, event)
    }))
    .await
}
