use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::pipeline_trigger;

// One thread: a 128 MB Lambda has a fraction of a vCPU, and worker threads only cost start-up.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let deps = pipeline_trigger::Deps::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        pipeline_trigger::handle(&deps, event)
    }))
    .await
}
