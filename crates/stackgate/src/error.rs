//! The typed errors a task returns. Each has a stable `errorType` so that the state machines'
//! `Retry`/`Catch` can target it by name (`ErrorEquals`).

use lambda_runtime::Diagnostic;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TaskError {
    /// The request itself is wrong; retrying cannot help.
    #[error("invalid input: field `{field}`: {message}")]
    InvalidInput { field: String, message: String },
    #[error("stack {stack} is busy ({status}); try again when its current operation has finished")]
    StackBusy { stack: String, status: String },
    /// Another stackgate execution holds the stack's lease (it is deploying or deleting the stack):
    /// refused at once, or after the operator's wait. The error type is `StackBusy`. The message
    /// does not name the holder: whoever reads this execution's error may not be its caller.
    #[error("stack {stack} is being deployed or deleted by another stackgate execution; try again when it has finished")]
    StackHeld { stack: String, holder: String },
    /// Another execution holds the stack's lease and this one waits for it: the workflow retries
    /// (bounded by the operator's wait, after which the lease answers `StackHeld`).
    #[error("stack {stack} waits for execution {holder} to finish")]
    StackQueued { stack: String, holder: String },
    #[error("stack {stack} is in {status} and needs an operator: {hint}")]
    StackNeedsAttention {
        stack: String,
        status: String,
        hint: String,
    },
    /// The stack exists but stackgate did not make it (it lacks the `stackgate:managed` tag of its
    /// environment): it is neither updated nor deleted.
    #[error("stack {stack} exists but was not created by stackgate (no stackgate:managed tag for its environment); an operator may adopt it by tagging it (docs/security.md)")]
    StackNotManaged { stack: String },
    #[error("template: {0}")]
    InvalidTemplate(String),
    /// The change set would delete or replace resources, or change access, and the request says to
    /// refuse that; the change set has been deleted, the stack is untouched.
    #[error("Refused change set {change_set} of stack {stack}: {unsafe_changes} of {total_changes} changes are unsafe (they lose data or change access).\n{summary}")]
    UnsafeChangeSet {
        stack: String,
        change_set: String,
        unsafe_changes: usize,
        total_changes: usize,
        summary: String,
    },
    /// The template failed the operator's Guard rules (or stackgate's defaults) and the operator
    /// refuses that (`GuardOnFailure=refuse`); the change set has been deleted, the stack is untouched.
    #[error("Refused change set {change_set} of stack {stack}: the template fails {failed} Guard rule(s).\n{summary}")]
    GuardRuleFailed {
        stack: String,
        change_set: String,
        failed: usize,
        summary: String,
    },
    /// Resources of the stack drifted (changed outside CloudFormation) and `onDrift` refuses that;
    /// no change set was made, the stack is untouched.
    #[error("Refused updating stack {stack}: {drifted} of its resources drifted (changed outside CloudFormation), or drift could not be detected; reconcile them, or deploy with onDrift=approve or ignore.\n{summary}")]
    StackDrifted {
        stack: String,
        drifted: usize,
        summary: String,
    },
    /// Deleting the stack would lose data, and the request says to refuse that; the stack is untouched.
    #[error("Refused deleting stack {stack}: {unsafe_resources} of {total_resources} resources are unsafe to delete (their data would be lost, or they guard what the stack keeps).\n{summary}")]
    UnsafeDeletion {
        stack: String,
        unsafe_resources: usize,
        total_resources: usize,
        summary: String,
    },
    /// The stack changed between the judgement a person approved and the deletion; nothing was deleted.
    #[error("stack {stack} changed after its deletion was judged and approved; nothing was deleted: ask again")]
    StackChangedSinceApproval { stack: String },
    /// `applyPlan`: the plan's change set cannot be executed as it was judged; nothing was executed.
    #[error("plan {plan} of stack {stack} cannot be applied: {reason}; plan again")]
    PlanObsolete {
        plan: String,
        stack: String,
        reason: String,
    },
    #[error("change set {change_set} failed: {reason}")]
    ChangeSetFailed { change_set: String, reason: String },
    /// Raised when a wait ran out of its in-function budget; the state machine retries it (bounded).
    #[error("change set {0} is still being created")]
    ChangeSetPending(String),
    #[error("{0}")]
    StackOperationFailed(String),
    /// A rollback alarm went into ALARM during the deployment or its monitoring time, and
    /// CloudFormation rolled the deployment back.
    #[error("stack {stack} rolled back ({status}): rollback alarm {alarm} went into ALARM during the deployment or its monitoring time")]
    RolledBackByAlarm {
        stack: String,
        status: String,
        alarm: String,
    },
    /// The application on an instance is not ready yet; the workflow waits and checks again.
    #[error("instance {instance} is not ready: {reason}")]
    InstanceNotReady { instance: String, reason: String },
    /// Throttling, 5xx, timeouts: worth a retry.
    #[error("transient AWS error in {operation}: {message}")]
    AwsTransient { operation: String, message: String },
    #[error("access denied in {operation}: {message}")]
    AwsAccessDenied { operation: String, message: String },
    #[error("AWS error in {operation}: {message}")]
    Aws { operation: String, message: String },
}

impl TaskError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        TaskError::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// stackgate said no to the request (its input, its template, its stack or its changes), as
    /// opposed to a failure along the way: what operators count as a refusal.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            TaskError::InvalidInput { .. }
                | TaskError::InvalidTemplate(_)
                | TaskError::StackBusy { .. }
                | TaskError::StackHeld { .. }
                | TaskError::StackNeedsAttention { .. }
                | TaskError::StackNotManaged { .. }
                | TaskError::UnsafeChangeSet { .. }
                | TaskError::UnsafeDeletion { .. }
                | TaskError::GuardRuleFailed { .. }
                | TaskError::StackDrifted { .. }
                | TaskError::StackChangedSinceApproval { .. }
                | TaskError::PlanObsolete { .. }
                | TaskError::ChangeSetFailed { .. }
        )
    }

    /// The `errorType` the Lambda runtime reports and the state machines match on.
    pub fn error_type(&self) -> &'static str {
        match self {
            TaskError::InvalidInput { .. } => "InvalidInput",
            TaskError::StackBusy { .. } | TaskError::StackHeld { .. } => "StackBusy",
            TaskError::StackQueued { .. } => "StackQueued",
            TaskError::StackNeedsAttention { .. } => "StackNeedsAttention",
            TaskError::StackNotManaged { .. } => "StackNotManaged",
            TaskError::InvalidTemplate(_) => "InvalidTemplate",
            TaskError::UnsafeChangeSet { .. } => "UnsafeChangeSet",
            TaskError::UnsafeDeletion { .. } => "UnsafeDeletion",
            TaskError::GuardRuleFailed { .. } => "GuardRuleFailed",
            TaskError::StackDrifted { .. } => "StackDrifted",
            TaskError::StackChangedSinceApproval { .. } => "StackChangedSinceApproval",
            TaskError::PlanObsolete { .. } => "PlanObsolete",
            TaskError::ChangeSetFailed { .. } => "ChangeSetFailed",
            TaskError::ChangeSetPending(_) => "ChangeSetPending",
            TaskError::StackOperationFailed(_) => "StackOperationFailed",
            TaskError::RolledBackByAlarm { .. } => "RolledBackByAlarm",
            TaskError::InstanceNotReady { .. } => "InstanceNotReady",
            TaskError::AwsTransient { .. } => "AwsTransientError",
            TaskError::AwsAccessDenied { .. } => "AwsAccessDenied",
            TaskError::Aws { .. } => "AwsError",
        }
    }
}

impl From<TaskError> for Diagnostic {
    fn from(error: TaskError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_string(),
            error_message: error.to_string(),
        }
    }
}

/// Marks a deserialiser's error as one of stackgate's rules: a message written not to repeat the value.
pub const RULE: &str = "stackgate rule: ";

/// A deserialiser's error for a rule of stackgate's (kept by `redact_values`).
pub fn rule<E: serde::de::Error>(message: impl std::fmt::Display) -> E {
    E::custom(format!("{RULE}{message}"))
}

/// serde's message without the offending value: "invalid type: string \"hunter2\", expected u64"
/// becomes "invalid type: string, expected u64". Input values may be secrets (a password in a
/// JSON-encoded string, a credential in a malformed event), and an error is logged and returned.
/// Field names ("missing field `x`", "unknown field `x`") stay: they say where the problem is.
pub fn redact_values(message: &str) -> String {
    // stackgate's own rules (`request::names`, …) say what is wrong, never what was given.
    if let Some(rule) = message.strip_prefix(RULE) {
        return rule.to_string();
    }
    // serde's own ", expected …" comes last: a value holding those words must not split it.
    let (head, tail) = match message.rfind(", expected") {
        Some(at) => message.split_at(at),
        None => (message, ""),
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = head.strip_prefix(prefix) {
            let kind = rest.split([' ', '`', '"']).next().unwrap_or_default();
            return format!("{prefix}{kind}{tail}");
        }
    }
    if head.starts_with("unknown variant") {
        return format!("unknown variant{tail}");
    }
    if head.starts_with("missing field")
        || head.starts_with("unknown field")
        || head.starts_with("duplicate field")
        || head.starts_with("invalid length")
    {
        return message.to_string();
    }
    // Anything else (a custom message) may hold a value: say only that the shape is wrong.
    "does not have the expected shape".to_string()
}

/// Text from AWS (a change set's `StatusReason`) with every URL it quotes replaced: a nested
/// template's or an include's URL may be presigned, its signature and session token in the query.
pub fn without_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["https://", "http://", "s3://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        out.push_str(&rest[..at]);
        out.push_str("(a URL)");
        let url = &rest[at..];
        let end = url
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')' | ']'))
            .unwrap_or(url.len());
        rest = &url[end..];
    }
    out.push_str(rest);
    out
}

/// What is wrong with JSON text, without quoting any of it.
pub fn describe_json_error(error: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {}, column {}", error.line(), error.column());
    match error.classify() {
        Category::Io => "could not be read".to_string(),
        Category::Syntax => format!("is not valid JSON (at {at})"),
        Category::Eof => "ends before the JSON does".to_string(),
        Category::Data => format!(
            "{} (at {at})",
            redact_values(&error.to_string().replace(
                &format!(" at line {} column {}", error.line(), error.column()),
                ""
            ))
        ),
    }
}

/// Parses JSON text into `T`. A mistake is an `InvalidInput` naming the field's path under
/// `context` (empty: the path alone) and the kind of problem, never the value.
pub fn parse_json<T: serde::de::DeserializeOwned>(
    text: &[u8],
    context: &str,
) -> Result<T, TaskError> {
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let field = match (path.as_str(), context) {
            ("." | "", "") => "$".to_string(),
            ("." | "", context) => context.to_string(),
            (path, "") => path.to_string(),
            (path, context) => format!("{context}.{path}"),
        };
        TaskError::invalid(field, describe_json_error(e.inner()))
    })
}

/// Deserialises a task's input; a mismatch is an `InvalidInput` naming the field: its path in the
/// input (`request.stackName`), with the missing or unknown key appended where serde names one.
pub fn parse_input<T: DeserializeOwned>(payload: Value) -> Result<T, TaskError> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let path = e.path().to_string();
        // serde quotes the offending value; input values may be secrets.
        let message = redact_values(&e.inner().to_string());
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

#[cfg(test)]
mod tests {
    #[test]
    fn urls_in_text_from_aws_are_replaced_and_the_rest_kept() {
        let reason = "S3 error: Access Denied for https://b.s3.amazonaws.com/t.yaml?X-Amz-Security-Token=planted, then s3://other/x and (http://h/y)";
        let said = super::without_urls(reason);
        assert_eq!(
            said,
            "S3 error: Access Denied for (a URL) then (a URL) and ((a URL))"
        );
        assert_eq!(super::without_urls("no URL here"), "no URL here");
        assert_eq!(super::without_urls("ends https://x"), "ends (a URL)");
    }

    use super::*;

    #[test]
    fn refusals_are_decisions_not_failures_along_the_way() {
        let refused = [
            TaskError::invalid("stackName", "bad"),
            TaskError::StackNotManaged { stack: "x".into() },
            TaskError::UnsafeChangeSet {
                stack: "x".into(),
                change_set: "c".into(),
                unsafe_changes: 1,
                total_changes: 1,
                summary: String::new(),
            },
        ];
        for error in &refused {
            assert!(error.is_refusal(), "{error:?}");
        }
        let along_the_way = [
            TaskError::AwsTransient {
                operation: "DescribeStacks".into(),
                message: "throttled".into(),
            },
            TaskError::StackQueued {
                stack: "x".into(),
                holder: "h".into(),
            },
            TaskError::ChangeSetPending("c".into()),
            TaskError::StackOperationFailed("x".into()),
            TaskError::AwsAccessDenied {
                operation: "GetObject".into(),
                message: "denied".into(),
            },
        ];
        for error in &along_the_way {
            assert!(!error.is_refusal(), "{error:?}");
        }
    }

    #[test]
    fn a_value_holding_serdes_own_words_is_still_redacted() {
        for message in [
            "invalid type: string \"x, expected hunter2\", expected u64",
            "unknown variant `x, expected hunter2`, expected one of `fail`, `approve`",
            "invalid value: string \"a, expected b, expected hunter2\", expected a name",
        ] {
            let redacted = redact_values(message);
            assert!(!redacted.contains("hunter2"), "{redacted}");
            assert!(redacted.contains(", expected"), "{redacted}");
        }
    }

    #[test]
    fn serde_messages_lose_their_values_but_keep_field_names() {
        let cases = [
            (
                "invalid type: string \"hunter2\", expected a map",
                "invalid type: string, expected a map",
            ),
            (
                "invalid value: integer `1234`, expected u8",
                "invalid value: integer, expected u8",
            ),
            (
                "unknown variant `hunter2`, expected `fail` or `approve`",
                "unknown variant, expected `fail` or `approve`",
            ),
            ("missing field `stackName`", "missing field `stackName`"),
            (
                "unknown field `stackname`, expected one of `stackName`",
                "unknown field `stackname`, expected one of `stackName`",
            ),
            ("hunter2 is not allowed", "does not have the expected shape"),
        ];
        for (message, redacted) in cases {
            assert_eq!(redact_values(message), redacted);
        }
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Config {
        db: std::collections::BTreeMap<String, String>,
    }

    #[test]
    fn a_json_encoded_secret_in_a_string_is_never_repeated() {
        let message = r#"{"db": "{\"password\": \"hunter2\"}"}"#;
        let error = parse_json::<Config>(message.as_bytes(), "applicationConfig").unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            matches!(&error, TaskError::InvalidInput { field, .. } if field == "applicationConfig.db"),
            "{error:?}"
        );
        let syntax = parse_json::<Config>(b"{\"db\": hunter2}", "x").unwrap_err();
        assert!(!syntax.to_string().contains("hunter2"), "{syntax}");
    }
}
