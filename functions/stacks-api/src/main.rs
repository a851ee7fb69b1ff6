use lambda_http::{run, service_fn, Error, Request};
use stackgate::tasks::stacks_api;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let clients = stacks_api::ApiClients::from_env().await?;
    run(service_fn(|request: Request| {
        stacks_api::handle(&clients, request)
    }))
    .await
}
