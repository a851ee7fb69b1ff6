use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::approval_emailer;

#[tokio::main]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let clients = stackgate::aws::ApprovalClients::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        approval_emailer::handle(&clients, event)
    }))
    .await
}
