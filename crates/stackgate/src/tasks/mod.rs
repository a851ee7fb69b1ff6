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
pub mod pre_provision;
#[cfg(feature = "aws")]
pub mod provision_starter;
#[cfg(feature = "aws")]
pub mod stacks_api;
#[cfg(feature = "aws")]
pub mod wait_stack;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::TaskError;

/// Deserialises a task's input; a mismatch is an `InvalidInput` naming the field: its path in the
/// input (`request.stackName`), with the missing or unknown key appended where serde names one.
pub fn parse_input<T: DeserializeOwned>(payload: Value) -> Result<T, TaskError> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let path = e.path().to_string();
        // serde quotes the offending value; input values may be secrets.
        let message = crate::error::redact_values(&e.inner().to_string());
        TaskError::invalid(field_of(&path, &message), message)
    })
}

/// The field an input error is about: the path serde reached (which ends in an unknown key), plus
/// the key of a missing field; "$" for the input as a whole.
pub fn field_of(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
        .filter(|key| !key.is_empty());
    let path = if path == "." { "" } else { path };
    match (path, missing) {
        ("", Some(key)) => key.to_string(),
        ("", None) => "$".to_string(),
        (path, Some(key)) => format!("{path}.{key}"),
        (path, None) => path.to_string(),
    }
}

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
