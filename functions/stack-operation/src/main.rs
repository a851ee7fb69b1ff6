use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::stack_operation;

// One thread: a 128 MB Lambda has a fraction of a vCPU, and worker threads only cost start-up.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let deps = stack_operation::Deps::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        stack_operation::handle(&deps, event)
    }))
    .await
}
