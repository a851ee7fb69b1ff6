use lambda_http::{run, service_fn, Error, Request};
use stackgate::tasks::approval_api;

// One thread: a 128 MB Lambda has a fraction of a vCPU, and worker threads only cost start-up.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let deps = approval_api::Deps::from_env().await?;
    run(service_fn(|request: Request| {
        approval_api::handle(&deps, request)
    }))
    .await
}
