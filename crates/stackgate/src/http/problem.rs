//! HTTP errors as RFC 9457 problem documents (`application/problem+json`).

use serde::Serialize;

use crate::TaskError;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An HTTP error as `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type", serialize_with = "problem_type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For 405: the methods the path accepts (sent as the `Allow` header too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Box<str>>,
    /// For 409 on a busy stack: the execution working on it. (The optional members are boxed: a
    /// problem is every HTTP handler's `Err`, and stays small.)
    #[serde(rename = "executionArn", skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<Box<str>>,
}

fn problem_type<S: serde::Serializer>(
    kind: &&'static str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("urn:stackgate:problem:{kind}"))
}

impl Problem {
    pub fn new(
        status: u16,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            kind,
            title,
            status,
            detail: detail.into(),
            field: None,
            allow: None,
            execution_arn: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_execution(mut self, execution_arn: impl Into<String>) -> Self {
        self.execution_arn = Some(execution_arn.into().into_boxed_str());
        self
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem::new(400, "invalid-request", "The request is not valid", detail).with_field(field)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(404, "not-found", "Not found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Problem::new(
            409,
            "conflict",
            "The stack cannot take this request now",
            detail,
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Problem::new(
            503,
            "unavailable",
            "The request was not accepted; try again",
            detail,
        )
    }

    pub fn method_not_allowed(detail: impl Into<String>, allow: impl Into<String>) -> Self {
        let mut problem = Problem::new(405, "method-not-allowed", "Method not allowed", detail);
        problem.allow = Some(allow.into().into_boxed_str());
        problem
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Problem::new(500, "internal", "Internal error", detail)
    }
}

impl From<TaskError> for Problem {
    fn from(error: TaskError) -> Self {
        match error {
            TaskError::InvalidInput { field, message } => Problem::invalid(field, message),
            TaskError::InvalidTemplate(message) => Problem::invalid("template", message),
            TaskError::AwsTransient { .. } => Problem::unavailable(error.to_string()),
            other => Problem::internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_serialise_as_problem_json() {
        let p = Problem::invalid("stackName", "bad");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "urn:stackgate:problem:invalid-request");
        assert_eq!(v["status"], 400);
        assert_eq!(v["field"], "stackName");
        assert!(v.get("allow").is_none());
    }
}
