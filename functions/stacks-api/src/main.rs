use lambda_http::{run, service_fn, Error, Request};
use stackgate::tasks::stacks_api;

// One thread: a 128 MB Lambda has a fraction of a vCPU, and worker threads only cost start-up.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let deps = stacks_api::Deps::from_env().await?;
    run(service_fn(|request: Request| {
        stacks_api::handle(&deps, request)
    }))
    .await
}
