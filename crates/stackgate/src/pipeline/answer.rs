//! The second half of the job protocol: the continuation token the trigger remembers between
//! calls, and the answer it gives once the workflow has ended.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::TaskError;

/// CodePipeline's limit on a continuation token.
pub const MAX_CONTINUATION_TOKEN: usize = 2048;
/// CodePipeline's limit on a failure message.
pub const MAX_FAILURE_MESSAGE: usize = 5000;
/// CodePipeline's limit on an execution summary.
pub const MAX_SUMMARY: usize = 2048;
/// Output variables kept at most (CodePipeline caps their total size).
const MAX_OUTPUT_VARIABLES: usize = 50;
const MAX_OUTPUT_VALUE: usize = 1000;

/// What the trigger remembers between calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContinuationToken {
    pub execution_arn: String,
}

impl ContinuationToken {
    pub fn encode(&self) -> Result<String, TaskError> {
        let token = serde_json::to_string(self)
            .map_err(|e| TaskError::invalid("continuationToken", e.to_string()))?;
        if token.len() > MAX_CONTINUATION_TOKEN {
            return Err(TaskError::invalid(
                "continuationToken",
                format!(
                    "is {} characters, over CodePipeline's {MAX_CONTINUATION_TOKEN}",
                    token.len()
                ),
            ));
        }
        Ok(token)
    }

    pub fn decode(token: &str) -> Result<Self, TaskError> {
        serde_json::from_str(token).map_err(|e| {
            TaskError::invalid(
                "continuationToken",
                format!(
                    "is not a stackgate token: {}",
                    crate::error::describe_json_error(&e)
                ),
            )
        })
    }
}

/// How the job is answered after looking at the execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobAnswer {
    /// Still running: answer success with the same continuation token.
    Continue,
    Succeed {
        summary: String,
        output_variables: BTreeMap<String, String>,
    },
    Fail {
        message: String,
    },
}

/// Cuts text to at most `max` bytes on a character boundary, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    const MARK: &str = " [...]";
    let mut end = max.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &text[..end])
}

/// A Lambda error's cause is `{"errorType","errorMessage",...}`; people want the message.
pub fn readable_cause(cause: &str) -> String {
    serde_json::from_str::<Value>(cause)
        .ok()
        .and_then(|v| {
            v.get("errorMessage")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| cause.to_string())
}

fn variable_name(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// CodePipeline output variables from the workflow output: outcome, stack (or release), and the
/// stack's outputs.
pub fn output_variables(output: &Value) -> BTreeMap<String, String> {
    let mut variables = BTreeMap::new();
    for key in ["outcome", "stackName", "stackId", "release"] {
        if let Some(value) = output.get(key).and_then(Value::as_str) {
            variables.insert(key.to_string(), truncate(value, MAX_OUTPUT_VALUE));
        }
    }
    if let Some(outputs) = output.get("outputs").and_then(Value::as_object) {
        for (key, value) in outputs {
            if variables.len() >= MAX_OUTPUT_VARIABLES {
                break;
            }
            if let Some(value) = value.as_str() {
                variables
                    .entry(variable_name(key))
                    .or_insert_with(|| truncate(value, MAX_OUTPUT_VALUE));
            }
        }
    }
    variables
}

/// Decides the answer from DescribeExecution.
pub fn answer(
    execution_arn: &str,
    status: &str,
    error: Option<&str>,
    cause: Option<&str>,
    output: Option<&str>,
) -> JobAnswer {
    match status {
        "RUNNING" | "PENDING_REDRIVE" => JobAnswer::Continue,
        "SUCCEEDED" => {
            let output: Value = output
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or(Value::Null);
            let outcome = output
                .get("outcome")
                .and_then(Value::as_str)
                .unwrap_or("done");
            let what = match (output.get("release"), output.get("stackName")) {
                (Some(Value::String(release)), _) => format!("release {release}"),
                (_, Some(Value::String(stack))) => format!("stack {stack}"),
                _ => "stack ?".to_string(),
            };
            let who = output
                .get("requestedBy")
                .and_then(Value::as_str)
                .map(|who| format!(", requested by {who}"))
                .unwrap_or_default();
            JobAnswer::Succeed {
                summary: truncate(
                    &format!("stackgate {outcome}: {what} (execution {execution_arn}{who})"),
                    MAX_SUMMARY,
                ),
                output_variables: output_variables(&output),
            }
        }
        _ => {
            let error = error.unwrap_or("no error name");
            let cause = cause
                .map(readable_cause)
                .unwrap_or_else(|| "no cause recorded".into());
            JobAnswer::Fail {
                message: truncate(
                    &format!("stackgate execution {status} with {error}: {cause}"),
                    MAX_FAILURE_MESSAGE,
                ),
            }
        }
    }
}
