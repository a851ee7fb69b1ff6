//! `provision-starter`: subscribed to the provisioning topic, it starts the provisioning
//! workflow for each published request, named after the SNS message id so that a redelivered
//! message never starts a second execution. An invalid request is an error: after Lambda's retries
//! it lands in the function's dead-letter queue instead of being lost.

use aws_lambda_events::event::sns::SnsEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use crate::aws::sfn;
use crate::provisioning;
use crate::TaskError;

#[derive(Debug, Clone)]
/// What the starter needs, read once per process.
pub struct Deps {
    pub sfn: aws_sdk_sfn::Client,
    pub state_machine_arn: String,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        let state_machine_arn = crate::config::required_env("PROVISIONING_STATE_MACHINE_ARN")?;
        let config = crate::aws::sdk::sdk_config();
        Ok(Deps {
            sfn: aws_sdk_sfn::Client::new(&config),
            state_machine_arn,
        })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub executions: Vec<String>,
}

/// The execution name for a message: SNS message ids are UUIDs.
pub fn execution_name(message_id: &str) -> Result<String, TaskError> {
    let valid = !message_id.is_empty()
        && message_id.len() <= 64
        && message_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !valid {
        return Err(TaskError::invalid("MessageId", "is not an SNS message id"));
    }
    Ok(format!("provision-{message_id}"))
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let event: SnsEvent = serde_json::from_value(event.payload).map_err(|e| {
        TaskError::invalid(
            "Records",
            format!(
                "not an SNS event: {}",
                crate::error::redact_values(&e.to_string())
            ),
        )
    })?;
    let mut executions = Vec::new();
    for record in &event.records {
        let message_id = &record.sns.message_id;
        let request = provisioning::parse_request(&record.sns.message).inspect_err(|e| {
            tracing::error!(message_id = %message_id, error = %e, "invalid provisioning request");
        })?;
        let name = execution_name(message_id)?;
        let input = provisioning::workflow_input(&request).to_string();
        let arn = sfn::start_execution(&deps.sfn, &deps.state_machine_arn, &name, &input).await?;
        tracing::info!(message_id = %message_id, execution_arn = %arn, application = %request.application, "provisioning started");
        executions.push(arn);
    }
    serde_json::to_value(Output { executions }).map_err(|e| TaskError::invalid("$", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_name_executions() {
        assert_eq!(
            execution_name("95df01b4-ee98-5cb9-9903-4c221d41eb5e").unwrap(),
            "provision-95df01b4-ee98-5cb9-9903-4c221d41eb5e"
        );
        assert!(execution_name("").is_err());
        assert!(execution_name("a/b").is_err());
    }
}
