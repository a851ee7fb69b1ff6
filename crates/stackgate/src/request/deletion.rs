//! The delete request, defined once: what `DELETE /stacks/{name}` starts safe delete with (and what
//! a direct StartExecution must say). Deleting a stack removes every resource in it; the
//! plan-delete step judges each by the deploy policy, and `onUnsafe` decides what happens when one
//! would lose its data.

use serde::{Deserialize, Serialize};

use super::{approval_timeout, not_recorded, requested_by, StackName};
use crate::TaskError;

/// What happens to a deletion that loses data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnUnsafeDeletion {
    /// Refused: the stack stays as it is.
    #[default]
    Fail,
    /// Ask people (approval email and page); delete only on their yes.
    Approve,
}

impl OnUnsafeDeletion {
    /// As the API's query parameter says it.
    pub fn parse(value: &str) -> Result<Self, TaskError> {
        match value {
            "fail" => Ok(OnUnsafeDeletion::Fail),
            "approve" => Ok(OnUnsafeDeletion::Approve),
            _ => Err(TaskError::invalid(
                "onUnsafe",
                "must be \"fail\" or \"approve\" for a deletion",
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteRequest {
    pub stack_name: StackName,
    /// The stack the API found: a deletion never reaches a newer stack of the same name.
    pub stack_id: String,
    #[serde(default)]
    pub on_unsafe: OnUnsafeDeletion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_timeout_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_by: Option<String>,
}

/// A validated delete request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deletion {
    pub stack_name: StackName,
    pub stack_id: String,
    pub on_unsafe: OnUnsafeDeletion,
    pub approval_timeout_seconds: u64,
    pub requested_by: String,
}

impl DeleteRequest {
    pub fn validate(self) -> Result<Deletion, TaskError> {
        if !is_stack_id_of(&self.stack_id, self.stack_name.as_str()) {
            return Err(TaskError::invalid(
                "stackId",
                "must be the ARN of the stack named by stackName",
            ));
        }
        Ok(Deletion {
            stack_name: self.stack_name,
            stack_id: self.stack_id,
            on_unsafe: self.on_unsafe,
            approval_timeout_seconds: approval_timeout(self.approval_timeout_seconds)?,
            requested_by: match self.requested_by {
                Some(who) => requested_by(Some(who))?,
                None => not_recorded(),
            },
        })
    }
}

/// `arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id>`, of this stack.
fn is_stack_id_of(stack_id: &str, stack_name: &str) -> bool {
    let parts: Vec<&str> = stack_id.splitn(6, ':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let Some((name, id)) = resource
        .strip_prefix("stack/")
        .and_then(|rest| rest.split_once('/'))
    else {
        return false;
    };
    let plain = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    *arn == "arn"
        && partition.starts_with("aws")
        && plain(partition)
        && *service == "cloudformation"
        && plain(region)
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && name == stack_name
        && plain(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::parse_input;
    use serde_json::json;

    const ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/prod-app/6c1e2b40-1f7a-11ef-9a1b-0a1b2c3d4e5f";

    fn parse(input: serde_json::Value) -> Result<Deletion, TaskError> {
        parse_input::<DeleteRequest>(input)?.validate()
    }

    #[test]
    fn a_delete_request_defaults_to_refusing_data_loss() {
        let deletion = parse(json!({"stackName": "prod-app", "stackId": ID})).unwrap();
        assert_eq!(deletion.on_unsafe, OnUnsafeDeletion::Fail);
        assert_eq!(
            deletion.approval_timeout_seconds,
            crate::approval::DEFAULT_TIMEOUT_SECONDS
        );
        assert_eq!(deletion.requested_by, not_recorded());
        let approve = parse(
            json!({"stackName": "prod-app", "stackId": ID, "onUnsafe": "approve",
            "approvalTimeoutSeconds": 3600, "requestedBy": "key-1"}),
        )
        .unwrap();
        assert_eq!(approve.on_unsafe, OnUnsafeDeletion::Approve);
        assert_eq!(approve.approval_timeout_seconds, 3600);
    }

    #[test]
    fn a_crafted_delete_request_is_refused_naming_the_field_not_the_value() {
        for (input, field) in [
            // Another stack's id under this stack's name: the judgement would read one stack and
            // the deletion remove the other.
            (
                json!({"stackName": "prod-app", "stackId": ID.replace("prod-app", "prod-other")}),
                "stackId",
            ),
            (
                json!({"stackName": "prod-app", "stackId": format!("{ID}/x")}),
                "stackId",
            ),
            (
                json!({"stackName": "prod-app", "stackId": "prod-app"}),
                "stackId",
            ),
            (
                json!({"stackName": "prod-app", "stackId": ID.replace("123456789012", "1234")}),
                "stackId",
            ),
            (
                json!({"stackName": "prod-app", "stackId": ID, "onUnsafe": "blueGreen"}),
                "onUnsafe",
            ),
            (
                json!({"stackName": "prod-app", "stackId": ID, "onUnsafe": "ignore"}),
                "onUnsafe",
            ),
            (
                json!({"stackName": "prod-app", "stackId": ID, "approvalTimeoutSeconds": 1}),
                "approvalTimeoutSeconds",
            ),
            (
                json!({"stackName": "prod-app", "stackId": ID, "verdict": "SAFE"}),
                "verdict",
            ),
            (
                json!({"stackName": "prod_hunter2", "stackId": ID}),
                "stackName",
            ),
            (json!({"stackId": ID}), "stackName"),
        ] {
            let error = parse(input).unwrap_err();
            assert!(
                matches!(&error, TaskError::InvalidInput { field: f, .. } if f == field),
                "{field}: {error:?}"
            );
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
        assert_eq!(
            OnUnsafeDeletion::parse("approve").unwrap(),
            OnUnsafeDeletion::Approve
        );
        assert!(OnUnsafeDeletion::parse("blueGreen").is_err());
    }
}
