use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::pre_provision;

// One thread: a 128 MB Lambda has a fraction of a vCPU, and worker threads only cost start-up.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let deps = pre_provision::Deps::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        pre_provision::handle(&deps, event)
    }))
    .await
}
