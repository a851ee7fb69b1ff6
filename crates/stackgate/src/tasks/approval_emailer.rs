//! `approval-emailer`: the `lambda:invoke.waitForTaskToken` task of an approval. It stores the task
//! token under an opaque id and emails each approver a link of their own to the approval page,
//! signed for that address and expiring: whoever decides is recorded by the link they used. The
//! token is never logged, put in a link, or returned.

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::parse_input;
use crate::approval::{self, ApprovalKind, ApprovalRequest, PlannedStack, Status, StoredApproval};
use crate::aws::ssm::SigningKeySource;
use crate::aws::{dynamodb, ses, sfn};
use crate::config::{env_list, env_var, required_env};
use crate::metrics::{self, names, Metric};
use crate::TaskError;

/// What the emailer needs, read once per process.
#[derive(Debug, Clone)]
pub struct Deps {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub ses: aws_sdk_sesv2::Client,
    /// Reads a release's plans (their executions' outputs).
    pub sfn: aws_sdk_sfn::Client,
    /// `APPROVALS_TABLE`
    pub table: String,
    pub key: SigningKeySource,
    /// `SENDER`: the SES identity emails come from.
    pub sender: Option<String>,
    /// `APPROVERS`: comma-separated addresses.
    pub approvers: Vec<String>,
    /// `APPROVAL_BASE_URL`: where the approval page is served (the approvals API's stage URL).
    pub base_url: Option<String>,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        Self::from_config(&crate::aws::sdk::sdk_config())
    }

    /// From an SDK configuration built once by the caller (the dispatcher builds more deps).
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, TaskError> {
        Ok(Deps {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            ses: aws_sdk_sesv2::Client::new(config),
            sfn: aws_sdk_sfn::Client::new(config),
            table: required_env("APPROVALS_TABLE")?,
            key: crate::config::signing_keys(config)?,
            sender: env_var("SENDER"),
            approvers: env_list("APPROVERS"),
            base_url: env_var("APPROVAL_BASE_URL"),
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    task_token: String,
    #[serde(default)]
    timeout_seconds: Option<u64>,
    /// `$$.Execution.Id`: lets the approval page confirm an answer whose reply was lost.
    #[serde(default)]
    execution_arn: Option<String>,
    request: ApprovalRequest,
}

// Deliberately no Debug: the input holds the task token.

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub approval_id: String,
    pub expires_at: String,
    /// Approvers emailed, each with their own link.
    pub emailed: usize,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let input: Input = parse_input(event.payload)?;
    if input.task_token.trim().is_empty() {
        return Err(TaskError::invalid("taskToken", "is required"));
    }
    if let Some(execution) = &input.execution_arn {
        if !crate::approval::is_execution_arn(execution) {
            return Err(TaskError::invalid(
                "executionArn",
                "is not a Step Functions execution ARN",
            ));
        }
    }
    let waiting = Waiting {
        task_token: &input.task_token,
        execution_arn: input.execution_arn.as_deref(),
    };
    let mut request = input.request;
    if request.kind == ApprovalKind::Release {
        request.stacks = planned_stacks(deps, &request.plan_executions).await?;
    }
    let output = request_approval(deps, waiting, request, input.timeout_seconds).await?;
    serde_json::to_value(&output).map_err(|e| TaskError::invalid("$", e.to_string()))
}

/// A release's stacks as their plans judged them, each read from its plan's execution (a
/// safe-deploy execution that ended judged): what people approve is what the plan step found, not
/// what the workflow's input says. A plan without changes has nothing to approve or execute.
async fn planned_stacks(
    deps: &Deps,
    executions: &[String],
) -> Result<Vec<PlannedStack>, TaskError> {
    let budget = approval::RELEASE_SUMMARY_BYTES / executions.len().max(1);
    let mut stacks = Vec::with_capacity(executions.len());
    for (i, arn) in executions.iter().enumerate() {
        let field = || format!("request.planExecutions[{i}]");
        if executions[..i].contains(arn) {
            return Err(TaskError::invalid(field(), "names a plan listed before it"));
        }
        let plan = arn.rsplit(':').next().unwrap_or_default();
        if !approval::is_execution_arn(arn) || !crate::request::is_plan_id(plan) {
            return Err(TaskError::invalid(field(), "is not a plan's execution ARN"));
        }
        let state = sfn::describe_execution(&deps.sfn, arn).await?;
        let output: Value = state
            .output
            .filter(|_| state.status == "SUCCEEDED")
            .and_then(|o| serde_json::from_str(&o).ok())
            .unwrap_or_default();
        let number = |name: &str| output[name].as_u64().unwrap_or_default();
        let text = |name: &str| output[name].as_str().unwrap_or_default().to_string();
        match output["outcome"].as_str() {
            Some("NO_CHANGES") => continue,
            Some("PLANNED" | "NEEDS_APPROVAL") => {}
            _ => {
                return Err(TaskError::invalid(
                    field(),
                    "is not a plan that ended judged for its release",
                ))
            }
        }
        stacks.push(PlannedStack {
            stack_name: text("stackName"),
            plan: plan.to_string(),
            change_set_name: text("changeSetName"),
            // Where the plan's own execution says the stack goes (null: stackgate's own).
            account: output["destination"]["account"]
                .as_str()
                .map(str::to_string),
            region: output["destination"]["region"].as_str().map(str::to_string),
            verdict: text("verdict"),
            unsafe_changes: number("unsafeChanges"),
            total_changes: number("totalChanges"),
            summary: approval::cut_summary(&text("summary"), budget, plan),
            summary_digest: approval::summary_digest(&text("summary")),
        });
    }
    Ok(stacks)
}

/// The task waiting for an answer: its token, and its execution where the workflow names it.
#[derive(Clone, Copy)]
pub struct Waiting<'a> {
    pub task_token: &'a str,
    pub execution_arn: Option<&'a str>,
}

// No Debug for Waiting: it holds a task token.

/// Stores the token under its opaque id and emails each approver a link signed for them; shared
/// with the activity dispatcher's manual tasks.
pub async fn request_approval(
    deps: &Deps,
    waiting: Waiting<'_>,
    request: ApprovalRequest,
    timeout_seconds: Option<u64>,
) -> Result<Output, TaskError> {
    let sender = deps
        .sender
        .as_deref()
        .ok_or_else(|| TaskError::invalid("SENDER", "no SES sender identity is configured"))?;
    let base_url = deps.base_url.as_deref().ok_or_else(|| {
        TaskError::invalid("APPROVAL_BASE_URL", "no approval page URL is configured")
    })?;
    if deps.approvers.is_empty() {
        return Err(TaskError::invalid(
            "APPROVERS",
            "no approvers are configured",
        ));
    }
    let stored = store(deps, waiting, request, timeout_seconds).await?;
    let keys = deps.key.keys().await?;
    for approver in &deps.approvers {
        let link = approval::approval_link(
            base_url,
            &keys.current,
            &stored.id,
            stored.expires_at,
            approver,
        );
        let email =
            approval::render_email(&stored.request, &link, stored.created_at, stored.expires_at)?;
        ses::send_email(&deps.ses, sender, std::slice::from_ref(approver), &email).await?;
    }
    tracing::info!(approval_id = %stored.id, recipients = deps.approvers.len(), "approval requested");
    metrics::emit(
        Metric::count(names::APPROVALS_REQUESTED).with("Kind", stored.request.kind.as_str()),
    );
    Ok(Output {
        approval_id: stored.id,
        expires_at: approval::timestamp(stored.expires_at),
        emailed: deps.approvers.len(),
    })
}

/// Stores a pending request for a task token (once: a retried call finds the stored one).
pub async fn store(
    deps: &Deps,
    waiting: Waiting<'_>,
    request: ApprovalRequest,
    timeout_seconds: Option<u64>,
) -> Result<StoredApproval, TaskError> {
    let request = request.normalised()?;
    let now = approval::now();
    let stored = StoredApproval {
        id: approval::approval_id(&deps.key.keys().await?.current, waiting.task_token),
        status: Status::Pending,
        created_at: now,
        // The link expires a little before the workflow stops waiting (the task started before this
        // call), so it never offers a decision the workflow can no longer take.
        expires_at: now
            + approval::timeout_seconds(timeout_seconds)
                .saturating_sub(approval::EXPIRY_MARGIN_SECONDS),
        request,
        decided_by: None,
        decided_at: None,
        comment: None,
        execution_arn: waiting.execution_arn.map(str::to_string),
    };
    if dynamodb::put_approval(&deps.dynamodb, &deps.table, &stored, waiting.task_token).await? {
        return Ok(stored);
    }
    Ok(
        dynamodb::get_approval(&deps.dynamodb, &deps.table, &stored.id, false)
            .await?
            .map(|(existing, _)| existing)
            .unwrap_or(stored),
    )
}
