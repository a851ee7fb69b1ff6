//! check-stack as a Lambda of its own: the first step of create-change-set's plan (validate the
//! request, read the stack, decide create / update / recreate), built like the functions so that
//! the benchmark compares the same task with the Python and Node.js baselines.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use stackgate::tasks::create_change_set::{check_stack, Deps};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    stackgate::telemetry::init();
    let deps = Deps::from_env().await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        check_stack::handle(&deps, event)
    }))
    .await
}
