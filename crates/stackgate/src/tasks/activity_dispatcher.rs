//! `activity-dispatcher`: run on a schedule, it polls the configured Step
//! Functions activities and hands each task on: a manual task becomes an email with a link to the
//! approval page ("done" / "failed"), an external job is triggered by webhook and reports back to
//! `POST /tasks/{id}/result`. A task is never dropped: if it cannot be handed on, Step Functions is
//! told so with SendTaskFailure (`DispatchFailed`), so the workflow's Catch takes over.

use std::time::{Duration, Instant};

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use super::approval_emailer;
use crate::activities::{self, Activity, ActivityKind};
use crate::approval;
use crate::aws::sfn;
use crate::config::env_var;
use crate::webhook::WebhookClient;
use crate::TaskError;

/// Tasks taken per activity per run, so one busy activity cannot starve the others.
const MAX_TASKS_PER_ACTIVITY: usize = 10;
/// A long poll lasts up to 60 s; the run stops polling when less than this is left.
const POLL_RESERVE: Duration = Duration::from_secs(75);

/// What the dispatcher needs, read once per process.
pub struct Deps {
    /// Manual tasks are emailed the way approvals are.
    pub email: approval_emailer::Deps,
    pub sfn: aws_sdk_sfn::Client,
    /// Reads the webhook URL (a secret) when a job is triggered.
    pub ssm: aws_sdk_ssm::Client,
    pub webhook: WebhookClient,
    pub activities: Vec<Activity>,
    pub worker_name: String,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        // One SDK configuration for every client (building it is most of a cold start).
        let config = crate::aws::sdk::sdk_config();
        Ok(Deps {
            email: approval_emailer::Deps::from_config(&config)?,
            sfn: aws_sdk_sfn::Client::new(&config),
            ssm: aws_sdk_ssm::Client::new(&config),
            webhook: WebhookClient::new()?,
            activities: activities::configured(
                env_var("MANUAL_TASK_ACTIVITY_ARN").as_deref(),
                env_var("EXTERNAL_JOB_ACTIVITY_ARN").as_deref(),
                env_var("EXTERNAL_JOB_WEBHOOK_URL_PARAMETER").as_deref(),
            )?,
            worker_name: env_var("AWS_LAMBDA_FUNCTION_NAME")
                .unwrap_or_else(|| "stackgate-activity-dispatcher".into()),
        })
    }
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub dispatched: usize,
    /// Tasks that could not be handed on and were failed back to Step Functions.
    pub failed_back: usize,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let deadline = event.context.deadline;
    let budget = super::wait_budget(Duration::from_secs(900), deadline);
    let output = dispatch_all(deps, budget).await?;
    serde_json::to_value(&output).map_err(|e| TaskError::invalid("$", e.to_string()))
}

pub async fn dispatch_all(deps: &Deps, budget: Duration) -> Result<Output, TaskError> {
    let started = Instant::now();
    let mut output = Output::default();
    for activity in &deps.activities {
        for _ in 0..MAX_TASKS_PER_ACTIVITY {
            if started.elapsed() + POLL_RESERVE > budget {
                return Ok(output);
            }
            let Some(task) =
                sfn::get_activity_task(&deps.sfn, &activity.arn, &deps.worker_name).await?
            else {
                break;
            };
            match dispatch(deps, &activity.kind, &task).await {
                Ok(id) => {
                    output.dispatched += 1;
                    tracing::info!(task_id = %id, activity = %activity.arn, "activity task handed on");
                }
                Err(error) => {
                    output.failed_back += 1;
                    tracing::warn!(activity = %activity.arn, error_type = error.error_type(), "activity task could not be handed on");
                    let cause = crate::pipeline::truncate(&error.to_string(), 32_000);
                    // If this fails too, the error ends the run: the task stays with Step Functions,
                    // which times it out (HeartbeatSeconds/TimeoutSeconds) into the workflow's Catch.
                    sfn::send_task_failure(&deps.sfn, &task.task_token, "DispatchFailed", &cause)
                        .await?;
                }
            }
        }
    }
    Ok(output)
}

/// The webhook URL from its SecureString, read for each job (a rotated token is used at once).
async fn webhook_url(deps: &Deps, parameter: &str) -> Result<String, TaskError> {
    const SETTING: &str = "EXTERNAL_JOB_WEBHOOK_URL_PARAMETER";
    let (url, _) = crate::aws::ssm::secure_string_version(&deps.ssm, parameter)
        .await?
        .ok_or_else(|| TaskError::invalid(SETTING, "names no SSM parameter"))?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(TaskError::invalid(SETTING, "does not hold an http(s) URL"));
    }
    Ok(url)
}

/// Hands one task on; returns its opaque id.
async fn dispatch(
    deps: &Deps,
    kind: &ActivityKind,
    task: &sfn::ActivityTask,
) -> Result<String, TaskError> {
    let input = activities::parse_task_input(&task.input)?;
    let request = activities::request_for(kind, &input);
    let id = match kind {
        ActivityKind::ManualTask => {
            approval_emailer::request_approval(
                &deps.email,
                approval_emailer::Waiting {
                    task_token: &task.task_token,
                    execution_arn: None,
                },
                request,
                input.timeout_seconds,
            )
            .await?
            .approval_id
        }
        ActivityKind::Webhook { url_parameter } => {
            let url = webhook_url(deps, url_parameter).await?;
            let base_url = deps.email.base_url.as_deref().ok_or_else(|| {
                TaskError::invalid("APPROVAL_BASE_URL", "no callback base URL is configured")
            })?;
            let stored = approval_emailer::store(
                &deps.email,
                approval_emailer::Waiting {
                    task_token: &task.task_token,
                    execution_arn: None,
                },
                request,
                input.timeout_seconds,
            )
            .await?;
            let callback = approval::callback_link(
                base_url,
                &deps.email.key.keys().await?.current,
                &stored.id,
                stored.expires_at,
            );
            let parameters = activities::webhook_parameters(&input, &stored.id, &callback);
            deps.webhook.post_form(&url, &parameters).await?;
            stored.id
        }
    };
    // Tell Step Functions the task is in hand (activity states may set HeartbeatSeconds).
    sfn::send_task_heartbeat(&deps.sfn, &task.task_token).await?;
    Ok(id)
}
