//! `create-change-set`: the planning step of safe deploy, one task so that each deployment costs
//! few state transitions. It validates the request and reads the stack (`check_stack::check`),
//! creates the change set and waits until it is ready, then:
//! - nothing to change: deletes the empty change set and says `NO_CHANGES`;
//! - otherwise judges every change (`inspect_change_set::inspect`); an unsafe change set the
//!   request says to refuse is deleted and the task fails with `UnsafeChangeSet`;
//! - a stack that cannot be updated (a failed first create) is reported `STACK_UNUSABLE` before
//!   anything is created, for the workflow to delete it and plan again.
//!
//! Idempotent: a retry finds the same change set (named after the execution and target).

use std::time::Instant;

use aws_sdk_cloudformation::types::ChangeSetType;
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub mod check_stack;
pub mod inspect_change_set;

use super::{parse_input, to_output, wait_budget};
use crate::aws::{cloudformation, s3};
use crate::config::{env_var, Polling};
use crate::guardrails::{with_managed_tags, Guardrails};
use crate::lifecycle::StackAction;
use crate::policy::{disposition, Disposition};
use crate::request::{Deployment, TemplateSource};
use crate::sensitive::SensitiveTypes;
use crate::template::{self, Delivery};
use crate::TaskError;

/// What the plan needs, read once per process: the SDK deps and the operator's rules.
#[derive(Debug, Clone)]
pub struct Deps {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub polling: Polling,
    pub guardrails: Guardrails,
    pub sensitive: SensitiveTypes,
    /// Service role CloudFormation deploys with (`CLOUDFORMATION_ROLE_ARN`).
    pub cloudformation_role_arn: Option<String>,
    /// Bucket for templates too large for an inline body (`STAGING_BUCKET`).
    pub staging_bucket: Option<String>,
    /// Base of the URLs CloudFormation fetches staged templates from (`TEMPLATE_URL_BASE`), for
    /// S3 endpoints other than AWS's regional one; defaults to the SDK endpoint override, if any.
    pub template_url_base: Option<String>,
    pub region: String,
}

impl Deps {
    /// A misconfigured guardrail (say, overlapping environments) stops the function at start-up,
    /// named by its setting.
    pub async fn from_env() -> Result<Self, TaskError> {
        let config = crate::aws::sdk::sdk_config();
        Ok(Deps {
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            s3: crate::aws::s3_client(&config),
            polling: Polling::from_env(),
            guardrails: crate::config::guardrails()?,
            sensitive: crate::config::sensitive_types(),
            cloudformation_role_arn: env_var("CLOUDFORMATION_ROLE_ARN"),
            staging_bucket: env_var("STAGING_BUCKET"),
            template_url_base: env_var("TEMPLATE_URL_BASE")
                .or_else(|| config.endpoint_url().map(str::to_string)),
            region: crate::aws::region_of(&config),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// The requested stack.
    Primary,
    /// The separate stack of a blue/green deployment.
    BlueGreen,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    /// The workflow's state: its input, the request (plus `plan`, on a second planning pass).
    request: Value,
    /// `$$.Execution.Name`: seeds names that must be stable across retries.
    execution_name: String,
    target: Target,
}

/// The key the workflow keeps this task's result under; not part of the request.
const PLAN_KEY: &str = "plan";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PlanStatus {
    /// A change set to execute, or to route by its inspection.
    Ready,
    /// Nothing to change; the empty change set has been deleted.
    NoChanges,
    /// The stack never came up and cannot be updated; nothing was created.
    StackUnusable,
}

/// What the workflow routes on. Every field is always present (a missing JSONPath fails a state).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub status: PlanStatus,
    pub check: check_stack::Output,
    pub change_set: Option<Output>,
    pub inspection: Option<inspect_change_set::Output>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Readiness {
    Ready,
    NoChanges,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub stack_name: String,
    pub change_set_name: String,
    pub change_set_id: String,
    pub stack_id: String,
    pub status: Readiness,
    /// What the deployment reports when this change set has been executed.
    pub outcome: &'static str,
}

/// A change set name (and client token) stable for one execution and target.
pub fn change_set_name(execution_name: &str, target: Target) -> String {
    let digest = Sha256::digest(format!("{execution_name}/{target:?}").as_bytes());
    let hex: String = digest.iter().take(10).map(|b| format!("{b:02x}")).collect();
    format!("stackgate-{hex}")
}

/// CloudFormation's ways of saying "nothing to do" (on FAILED change sets).
pub fn means_no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let deadline = event.context.deadline;
    let input: Input = parse_input(event.payload)?;
    let output = plan(
        deps,
        &input,
        wait_budget(deps.polling.wait_budget, deadline),
    )
    .await?;
    to_output(&output)
}

async fn plan(deps: &Deps, input: &Input, budget: std::time::Duration) -> Result<Plan, TaskError> {
    let mut request = input.request.clone();
    if let Value::Object(object) = &mut request {
        object.remove(PLAN_KEY);
    }
    let mut check = check_stack::check(deps, &request, &input.execution_name).await?;
    let name = change_set_name(&input.execution_name, input.target);
    if input.target == Target::BlueGreen {
        // The blue/green stack is always a new one: never another stack of that name (say, another
        // deployment's first create under review), unless it is this execution's own (a retry).
        let target = &check.deployment.blue_green_stack_name;
        if cloudformation::describe_stack(&deps.cloudformation, target)
            .await?
            .is_some()
            && !cloudformation::change_set_exists(&deps.cloudformation, target, &name).await?
        {
            return Err(TaskError::invalid(
                "blueGreenSuffix",
                "names a stack that exists already; the blue/green stack is always a new one",
            ));
        }
    }
    if input.target == Target::Primary && check.stack.action == StackAction::Recreate {
        // A CREATE change set of this execution leaves the new stack in REVIEW_IN_PROGRESS: on a
        // retried task that stack is ours, not a failed one to delete.
        let ours =
            cloudformation::change_set_exists(&deps.cloudformation, &check.stack.stack_name, &name)
                .await?;
        if !ours {
            // Only a stack stackgate made is deleted to be made again.
            if !check.stack.managed {
                return Err(TaskError::StackNotManaged {
                    stack: check.stack.stack_name,
                });
            }
            return Ok(Plan {
                status: PlanStatus::StackUnusable,
                check,
                change_set: None,
                inspection: None,
            });
        }
        check.stack.change_set_type = "CREATE";
    }
    let change_set = create_and_wait(
        deps,
        &check.deployment,
        check.stack.change_set_type,
        &input.execution_name,
        input.target,
        budget,
    )
    .await?;
    let discard = || {
        cloudformation::delete_change_set(
            &deps.cloudformation,
            &change_set.stack_name,
            &change_set.change_set_name,
        )
    };
    if change_set.status == Readiness::NoChanges {
        discard().await?;
        return Ok(Plan {
            status: PlanStatus::NoChanges,
            check,
            change_set: Some(change_set),
            inspection: None,
        });
    }
    let inspection = match inspect_change_set::inspect(
        deps,
        &deps.sensitive,
        &change_set.stack_name,
        &change_set.change_set_name,
    )
    .await
    {
        Ok(inspection) => inspection,
        Err(error) => {
            // Not left behind unjudged; the inspection error is what the workflow reports.
            let _ = discard().await;
            return Err(error);
        }
    };
    let blue_green = input.target == Target::BlueGreen;
    let security_sensitive = inspection.security_sensitive_changes > 0;
    if disposition(
        inspection.verdict,
        check.deployment.on_unsafe,
        blue_green,
        security_sensitive,
    ) == Disposition::Refuse
    {
        discard().await?;
        tracing::warn!(stack = %change_set.stack_name, change_set = %change_set.change_set_name, unsafe_changes = inspection.unsafe_changes, "unsafe change set refused and deleted");
        return Err(TaskError::UnsafeChangeSet {
            stack: change_set.stack_name,
            change_set: change_set.change_set_name,
            unsafe_changes: inspection.unsafe_changes,
            total_changes: inspection.total_changes,
            summary: inspection.summary,
        });
    }
    Ok(Plan {
        status: PlanStatus::Ready,
        check,
        change_set: Some(change_set),
        inspection: Some(inspection),
    })
}

async fn read_template(deps: &Deps, source: &TemplateSource) -> Result<Option<String>, TaskError> {
    match source {
        TemplateSource::Url { .. } => Ok(None),
        TemplateSource::S3Object { bucket, key } => {
            let bytes = s3::get_object(&deps.s3, bucket, key, template::MAX_TEMPLATE_SIZE).await?;
            template::template_text(bytes, key).map(Some)
        }
        TemplateSource::Revision {
            bucket,
            key,
            template_path,
        } => {
            let archive = s3::get_object(&deps.s3, bucket, key, template::MAX_REVISION_ZIP).await?;
            template::extract_from_zip(&archive, template_path).map(Some)
        }
    }
}

async fn create_and_wait(
    deps: &Deps,
    deployment: &Deployment,
    change_set_type: &str,
    execution_name: &str,
    target: Target,
    budget: std::time::Duration,
) -> Result<Output, TaskError> {
    let started = Instant::now();
    let (stack_name, change_set_type, outcome) = match target {
        Target::BlueGreen => (
            &deployment.blue_green_stack_name,
            ChangeSetType::Create,
            "BLUE_GREEN",
        ),
        Target::Primary => match change_set_type {
            "CREATE" => (&deployment.stack_name, ChangeSetType::Create, "CREATED"),
            "UPDATE" => (&deployment.stack_name, ChangeSetType::Update, "UPDATED"),
            other => {
                return Err(TaskError::invalid(
                    "changeSetType",
                    format!("must be CREATE or UPDATE, got {other:?}"),
                ))
            }
        },
    };
    let name = change_set_name(execution_name, target);

    let body = read_template(deps, &deployment.source).await?;
    let mut template_url = match &deployment.source {
        TemplateSource::Url { url } => Some(url.clone()),
        _ => None,
    };
    let mut template_body = None;
    if let Some(body) = &body {
        match template::delivery_for(body.len()) {
            Delivery::Body => template_body = Some(body.as_str()),
            Delivery::StagedUrl => {
                let bucket = deps.staging_bucket.as_deref().ok_or_else(|| {
                    TaskError::InvalidTemplate(format!(
                        "the template is {} bytes, above the {}-byte inline limit, and no STAGING_BUCKET is configured",
                        body.len(),
                        template::MAX_TEMPLATE_BODY
                    ))
                })?;
                let key = format!("templates/{stack_name}/{name}.template");
                s3::put_template(&deps.s3, bucket, &key, body).await?;
                template_url = Some(s3::object_url(
                    deps.template_url_base.as_deref(),
                    &deps.region,
                    bucket,
                    &key,
                ));
            }
        }
    }

    if !deployment.parameters.is_empty() {
        // Secret parameters only by reference: CloudFormation says which ones the template
        // declares NoEcho.
        let declared = cloudformation::declared_parameters(
            &deps.cloudformation,
            template_body,
            template_url.as_deref(),
        )
        .await?;
        crate::request::check_secret_parameters(deployment, &declared)?;
    }

    let description = format!("stackgate execution {execution_name}");
    let tags = with_managed_tags(&deployment.tags, &deployment.environment_name);
    cloudformation::create_change_set(
        &deps.cloudformation,
        &cloudformation::ChangeSetRequest {
            stack_name,
            change_set_name: &name,
            change_set_type,
            template_body,
            template_url: template_url.as_deref(),
            parameters: &deployment.parameters,
            tags: &tags,
            capabilities: &deployment.capabilities,
            role_arn: deps.cloudformation_role_arn.as_deref(),
            client_token: &name,
            description: &description,
        },
    )
    .await?;
    tracing::info!(stack = %stack_name, change_set = %name, "change set requested");

    loop {
        let status =
            cloudformation::change_set_status(&deps.cloudformation, stack_name, &name).await?;
        let readiness = match status.status.as_str() {
            "CREATE_COMPLETE" => Some(Readiness::Ready),
            "FAILED" if status.reason.as_deref().is_some_and(means_no_changes) => {
                Some(Readiness::NoChanges)
            }
            "FAILED" => {
                // Not left on the stack: the failure is reported, the change set is gone.
                cloudformation::delete_change_set(&deps.cloudformation, stack_name, &name).await?;
                return Err(TaskError::ChangeSetFailed {
                    change_set: name,
                    reason: status
                        .reason
                        .unwrap_or_else(|| "no reason given".to_string()),
                });
            }
            "DELETE_FAILED" | "DELETE_COMPLETE" | "DELETE_IN_PROGRESS" => {
                return Err(TaskError::ChangeSetFailed {
                    change_set: name,
                    reason: status
                        .reason
                        .unwrap_or_else(|| format!("change set is {}", status.status)),
                })
            }
            _ => None,
        };
        if let Some(readiness) = readiness {
            tracing::info!(stack = %stack_name, change_set = %name, ?readiness, "change set settled");
            return Ok(Output {
                stack_name: stack_name.to_string(),
                change_set_name: name,
                change_set_id: status.change_set_id,
                stack_id: status.stack_id,
                status: readiness,
                outcome,
            });
        }
        if started.elapsed() + deps.polling.interval > budget {
            return Err(TaskError::ChangeSetPending(name));
        }
        tokio::time::sleep(deps.polling.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_valid_and_distinct_per_target() {
        let a = change_set_name("exec-1", Target::Primary);
        assert_eq!(a, change_set_name("exec-1", Target::Primary));
        assert_ne!(a, change_set_name("exec-1", Target::BlueGreen));
        assert_ne!(a, change_set_name("exec-2", Target::Primary));
        crate::request::validate_stack_name("changeSetName", &a).unwrap();
    }

    #[test]
    fn no_change_reasons() {
        assert!(means_no_changes("The submitted information didn't contain changes. Submit different information to create a change set."));
        assert!(means_no_changes("No updates are to be performed."));
        assert!(!means_no_changes("Template format error"));
    }
}
