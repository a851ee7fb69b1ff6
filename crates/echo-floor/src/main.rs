//! The least a Rust Lambda function starts with: the functions' runtime and nothing of stackgate.
//! The benchmark reports every function's init as a multiple of this one's, measured in the same
//! run, so that the figure does not depend on the machine.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|event: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(event.payload)
    }))
    .await
}
