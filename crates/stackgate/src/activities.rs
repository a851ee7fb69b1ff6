//! Activities: manual steps and external jobs (Jenkins) as Step Functions activities that a
//! scheduled dispatcher polls. The rules here: which activity does what, what an activity task asks
//! for, and what an external job may report back.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::approval::{ApprovalKind, ApprovalRequest};
use crate::TaskError;

/// What the dispatcher does with the tasks of one activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityKind {
    /// Email a person a link to mark the task done or failed.
    ManualTask,
    /// Trigger an external job by webhook; it reports back through `POST /tasks/{id}/result`. The
    /// URL carries the job's token (a Jenkins `buildWithParameters` URL): it is read at run time
    /// from the SSM SecureString `url_parameter`, never kept in the function's environment.
    Webhook { url_parameter: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    pub arn: String,
    pub kind: ActivityKind,
}

/// The activities to poll, from the dispatcher's environment (`MANUAL_TASK_ACTIVITY_ARN`,
/// `EXTERNAL_JOB_ACTIVITY_ARN` with `EXTERNAL_JOB_WEBHOOK_URL_PARAMETER`).
pub fn configured(
    manual: Option<&str>,
    external: Option<&str>,
    webhook_parameter: Option<&str>,
) -> Result<Vec<Activity>, TaskError> {
    let mut activities = Vec::new();
    if let Some(arn) = manual {
        activities.push(Activity {
            arn: arn.to_string(),
            kind: ActivityKind::ManualTask,
        });
    }
    if let Some(arn) = external {
        let name = webhook_parameter.ok_or_else(|| {
            TaskError::invalid(
                "EXTERNAL_JOB_WEBHOOK_URL_PARAMETER",
                "is required with EXTERNAL_JOB_ACTIVITY_ARN",
            )
        })?;
        if !name.starts_with('/') {
            return Err(TaskError::invalid(
                "EXTERNAL_JOB_WEBHOOK_URL_PARAMETER",
                "must be the name of an SSM parameter (starting with '/')",
            ));
        }
        activities.push(Activity {
            arn: arn.to_string(),
            kind: ActivityKind::Webhook {
                url_parameter: name.to_string(),
            },
        });
    }
    Ok(activities)
}

/// What an activity task's input asks for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskInput {
    pub task_name: String,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    #[serde(default)]
    pub requested_by: Option<String>,
    /// Passed on to an external job as its parameters.
    #[serde(default)]
    pub parameters: Map<String, Value>,
}

pub fn parse_task_input(input: &str) -> Result<TaskInput, TaskError> {
    let input: TaskInput =
        crate::error::parse_json(input.as_bytes(), "activity input").map_err(|e| match e {
            TaskError::InvalidInput { field, message } => {
                TaskError::invalid(field, format!("{message}; expected {{\"taskName\", ...}}"))
            }
            other => other,
        })?;
    if input.task_name.trim().is_empty() {
        return Err(TaskError::invalid("taskName", "must not be empty"));
    }
    Ok(input)
}

/// The approval-store record of an activity task: a manual task, or an external job.
pub fn request_for(kind: &ActivityKind, input: &TaskInput) -> ApprovalRequest {
    ApprovalRequest {
        kind: match kind {
            ActivityKind::ManualTask => ApprovalKind::ManualTask,
            ActivityKind::Webhook { .. } => ApprovalKind::ExternalJob,
        },
        title: String::new(),
        stack_name: None,
        environment_name: None,
        change_set_name: None,
        summary: None,
        unsafe_changes: None,
        total_changes: None,
        task_name: Some(input.task_name.clone()),
        instructions: input.instructions.clone(),
        requested_by: input.requested_by.clone().unwrap_or_default(),
        release: None,
        plan_executions: Vec::new(),
        stacks: Vec::new(),
    }
}

/// The webhook's form parameters: the job's own, the task reference and where to report.
/// Jenkins' `buildWithParameters` takes exactly this shape.
pub fn webhook_parameters(
    input: &TaskInput,
    task_id: &str,
    callback_url: &str,
) -> Vec<(String, String)> {
    let mut parameters: Vec<(String, String)> = input
        .parameters
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect();
    parameters.push(("STACKGATE_TASK_ID".into(), task_id.into()));
    parameters.push(("STACKGATE_CALLBACK_URL".into(), callback_url.into()));
    parameters
}

/// What an external job reports to `POST /tasks/{id}/result`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobReport {
    /// `RUNNING` (a heartbeat), `SUCCEEDED` or `FAILED`.
    pub status: String,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
    #[serde(default)]
    pub exp: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub sig: Option<String>,
}

/// A job report, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Heartbeat,
    Succeeded(Value),
    Failed { error: String, cause: String },
}

pub fn parse_report(report: &JobReport) -> Result<JobOutcome, TaskError> {
    match report.status.as_str() {
        "RUNNING" => Ok(JobOutcome::Heartbeat),
        "SUCCEEDED" => Ok(JobOutcome::Succeeded(
            report
                .output
                .clone()
                .unwrap_or_else(|| Value::Object(Map::new())),
        )),
        "FAILED" => {
            let error = report
                .error
                .clone()
                .unwrap_or_else(|| "ExternalJobFailed".into());
            let valid =
                !error.is_empty() && error.len() <= 256 && !error.chars().any(char::is_control);
            if !valid {
                return Err(TaskError::invalid("error", "must be a short error name"));
            }
            Ok(JobOutcome::Failed {
                error,
                cause: crate::pipeline::truncate(
                    report.cause.as_deref().unwrap_or("the external job failed"),
                    32_000,
                ),
            })
        }
        other => Err(TaskError::invalid(
            "status",
            format!("must be RUNNING, SUCCEEDED or FAILED, got {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn activities_come_from_the_environment() {
        assert!(configured(None, None, None).unwrap().is_empty());
        let both = configured(
            Some("arn:manual"),
            Some("arn:jobs"),
            Some("/stackgate/external-job-webhook-url"),
        )
        .unwrap();
        assert_eq!(both[0].kind, ActivityKind::ManualTask);
        assert!(matches!(both[1].kind, ActivityKind::Webhook { .. }));
        assert!(configured(None, Some("arn:jobs"), None).is_err());
        assert!(
            configured(
                None,
                Some("arn:jobs"),
                Some("https://ci/job/x?token=secret")
            )
            .is_err(),
            "the URL itself (with its token) is not a setting"
        );
    }

    #[test]
    fn task_inputs_are_validated() {
        let input = parse_task_input(
            r#"{"taskName":"Open port 443","instructions":"NET-1","parameters":{"PORT":443}}"#,
        )
        .unwrap();
        assert_eq!(input.task_name, "Open port 443");
        assert!(parse_task_input(r#"{"instructions":"x"}"#).is_err());
        assert!(parse_task_input(r#"{"taskName":" "}"#).is_err());
        assert!(parse_task_input("not json").is_err());
        assert!(parse_task_input(r#"{"taskName":"a","surprise":1}"#).is_err());
        let request = request_for(&ActivityKind::ManualTask, &input)
            .normalised()
            .unwrap();
        assert_eq!(request.title, "Manual task: Open port 443");
        let job = request_for(
            &ActivityKind::Webhook {
                url_parameter: "/x".into(),
            },
            &input,
        )
        .normalised()
        .unwrap();
        assert_eq!(job.kind, ApprovalKind::ExternalJob);
        assert_eq!(job.rejection_error(), "ExternalJobFailed");
    }

    #[test]
    fn webhook_parameters_carry_the_reference_not_the_token() {
        let input =
            parse_task_input(r#"{"taskName":"build","parameters":{"BRANCH":"main","N":3}}"#)
                .unwrap();
        let params = webhook_parameters(
            &input,
            "abc123",
            "https://api/v1/tasks/abc123/result?exp=1&sig=ff",
        );
        assert!(params.contains(&("BRANCH".into(), "main".into())));
        assert!(params.contains(&("N".into(), "3".into())));
        assert!(params.contains(&("STACKGATE_TASK_ID".into(), "abc123".into())));
    }

    #[test]
    fn job_reports() {
        let report = |v: Value| -> JobReport { serde_json::from_value(v).unwrap() };
        assert_eq!(
            parse_report(&report(json!({"status":"RUNNING"}))).unwrap(),
            JobOutcome::Heartbeat
        );
        assert_eq!(
            parse_report(&report(json!({"status":"SUCCEEDED","output":{"build":7}}))).unwrap(),
            JobOutcome::Succeeded(json!({"build":7}))
        );
        match parse_report(&report(json!({"status":"FAILED","cause":"tests failed"}))).unwrap() {
            JobOutcome::Failed { error, cause } => assert_eq!(
                (error.as_str(), cause.as_str()),
                ("ExternalJobFailed", "tests failed")
            ),
            other => panic!("{other:?}"),
        }
        assert!(parse_report(&report(json!({"status":"DONE"}))).is_err());
        assert!(parse_report(&report(json!({"status":"FAILED","error":"a\nb"}))).is_err());
    }
}
