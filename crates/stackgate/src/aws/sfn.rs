//! Step Functions adapter: starting a workflow idempotently and reading how it went.

use aws_sdk_sfn::Client;

use super::classify;
use crate::TaskError;

/// The ARN of execution `name` of a state machine (what StartExecution would have returned).
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// Starts an execution; one of the same name that already exists (a retried call) is that execution.
pub async fn start_execution(
    client: &Client,
    state_machine_arn: &str,
    name: &str,
    input: &str,
) -> Result<String, TaskError> {
    match client
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(name)
        .input(input)
        .send()
        .await
    {
        Ok(started) => Ok(started.execution_arn().to_string()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_execution_already_exists()) =>
        {
            Ok(execution_arn(state_machine_arn, name))
        }
        Err(error) => Err(classify("StartExecution", &error)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionState {
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub output: Option<String>,
}

pub async fn describe_execution(
    client: &Client,
    execution_arn: &str,
) -> Result<ExecutionState, TaskError> {
    let described = client
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .map_err(|e| classify("DescribeExecution", &e))?;
    Ok(ExecutionState {
        status: described.status().as_str().to_string(),
        error: described.error().map(str::to_string),
        cause: described.cause().map(str::to_string),
        output: described.output().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn execution_arn_from_state_machine_arn() {
        assert_eq!(
            super::execution_arn(
                "arn:aws:states:us-east-1:1:stateMachine:SafeDeploy",
                "pipeline-j"
            ),
            "arn:aws:states:us-east-1:1:execution:SafeDeploy:pipeline-j"
        );
    }
}
