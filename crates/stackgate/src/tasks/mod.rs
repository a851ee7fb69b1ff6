//! Task handlers: thin glue between a state's JSON and the domain, one module per function.

#[cfg(feature = "aws")]
pub mod activity_dispatcher;
#[cfg(feature = "aws")]
pub mod approval_api;
#[cfg(feature = "aws")]
pub mod approval_emailer;
#[cfg(feature = "aws")]
pub mod create_change_set;
pub mod health_check;
#[cfg(feature = "aws")]
pub mod maintenance_mode;
#[cfg(feature = "aws")]
pub mod pipeline_trigger;
#[cfg(feature = "aws")]
pub mod plan_delete;
#[cfg(feature = "aws")]
pub mod pre_provision;
#[cfg(feature = "aws")]
pub mod provision_starter;
#[cfg(feature = "aws")]
pub mod stack_lease;
#[cfg(feature = "aws")]
pub mod stack_operation;
#[cfg(feature = "aws")]
pub mod stack_status;
#[cfg(feature = "aws")]
pub mod stacks_api;
#[cfg(feature = "aws")]
pub mod wait_stack;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::TaskError;

pub use crate::error::{field_of, parse_input};

/// Serialises a task's output.
pub fn to_output<T: serde::Serialize>(value: &T) -> Result<Value, TaskError> {
    serde_json::to_value(value)
        .map_err(|e| TaskError::invalid("$", format!("unserialisable output: {e}")))
}

/// How long an invocation may keep polling: the configured budget, less what the Lambda deadline
/// leaves (with a margin to answer in time).
pub fn wait_budget(configured: Duration, deadline_ms: u64) -> Duration {
    const MARGIN: Duration = Duration::from_secs(15);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    if deadline_ms == 0 {
        return configured;
    }
    let remaining = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    configured
        .min(remaining.saturating_sub(MARGIN))
        .max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        stack_name: String,
    }

    #[test]
    fn input_errors_name_the_field() {
        let err = parse_input::<Probe>(serde_json::json!({})).unwrap_err();
        assert!(
            matches!(err, TaskError::InvalidInput { ref field, .. } if field == "stackName"),
            "{err:?}"
        );
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        request: Probe,
    }

    #[test]
    fn nested_wrong_and_odd_fields_are_named_by_their_path() {
        let field = |value: Value| match parse_input::<Outer>(value).unwrap_err() {
            TaskError::InvalidInput { field, .. } => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(serde_json::json!({"request": {}})),
            "request.stackName"
        );
        assert_eq!(
            field(serde_json::json!({"request": {"stackName": 3}})),
            "request.stackName"
        );
        assert_eq!(
            field(serde_json::json!({"request": {"stackName": "a", "x`y": 1}})),
            "request.x`y"
        );
        assert_eq!(field(serde_json::json!({"`": null})), "`");
        assert_eq!(field(serde_json::json!({"": null})), "$");
        assert_eq!(field(serde_json::json!("text")), "$");
    }

    #[test]
    fn budget_respects_the_deadline() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert_eq!(
            wait_budget(Duration::from_secs(600), 0),
            Duration::from_secs(600)
        );
        let budget = wait_budget(Duration::from_secs(600), now + 60_000);
        assert!(
            budget <= Duration::from_secs(45) && budget >= Duration::from_secs(40),
            "{budget:?}"
        );
        assert_eq!(
            wait_budget(Duration::from_secs(600), now),
            Duration::from_secs(1)
        );
    }
}
