//! `create-change-set`: the planning step of safe deploy, one task so that each deployment costs
//! few state transitions. It validates the request, takes the stack's lease (one execution per
//! stack: `crate::lease`) and reads the stack (`check_stack`),
//! creates the change set and waits until it is ready, then:
//! - nothing to change: deletes the empty change set and says `NO_CHANGES`;
//! - otherwise judges every change (`inspect_change_set::inspect`); an unsafe change set the
//!   request says to refuse is deleted and the task fails with `UnsafeChangeSet`;
//! - a stack that cannot be updated (a failed first create) is reported `STACK_UNUSABLE` before
//!   anything is created, for the workflow to delete it and plan again.
//!
//! Idempotent: a retry finds the same change set (named after the execution and target).

use std::borrow::Cow;
use std::collections::BTreeMap;

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod applying;
mod change_set;
pub mod check_stack;
mod drift_check;
pub mod inspect_change_set;
mod plan;
mod template_source;

use super::{parse_input, to_output, wait_budget};
use crate::aws::reach::{DeployRole, Reach};
use crate::config::{env_var, Polling};
use crate::destination::{partition_of, Destination, TARGET_CLOUDFORMATION_ROLE};
use crate::guardrails::Guardrails;
use crate::metrics::{self, names, Metric};
use crate::policy::Verdict;
use crate::sensitive::SensitiveTypes;
use crate::stateful::StatefulTypes;
use crate::TaskError;

/// What the plan needs, read once per process: the SDK deps and the operator's rules.
#[derive(Debug, Clone)]
pub struct Deps {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub polling: Polling,
    pub guardrails: Guardrails,
    pub sensitive: SensitiveTypes,
    pub stateful: StatefulTypes,
    /// Service role CloudFormation deploys with (`CLOUDFORMATION_ROLE_ARN`).
    pub cloudformation_role_arn: Option<String>,
    /// Bucket for templates too large for an inline body (`STAGING_BUCKET`).
    pub staging_bucket: Option<String>,
    /// Base of the URLs CloudFormation fetches staged templates from (`TEMPLATE_URL_BASE`), for
    /// S3 endpoints other than AWS's regional one; defaults to the SDK endpoint override, if any.
    pub template_url_base: Option<String>,
    pub region: String,
    /// The operator's rollback alarms per environment (`ROLLBACK_ALARMS`, `MONITORING_MINUTES`).
    pub rollback_floors: BTreeMap<String, crate::request::Rollback>,
    /// Completes alarms given by name (`alarm_arn_prefix`).
    pub alarm_arn_prefix: Option<String>,
    /// Drift is detected before each update: the operator gave the function the read access
    /// CloudFormation's drift detection needs (`DRIFT_DETECTION_POLICY_ARN`, `DriftDetectionPolicyArn`).
    pub detect_drift: bool,
    /// One execution per stack (`STACK_LEASES_TABLE`, `CONCURRENT_DEPLOYMENTS`).
    pub leases: crate::tasks::stack_lease::Leases,
    /// The Guard rules every template is held to (`GUARD_DEFAULTS`, `GUARD_RULES`, `GUARD_ON_FAILURE`).
    pub guard: crate::guard::Settings,
    /// Where a release's approval is read (`APPROVALS_TABLE`): a release's plan executes on the
    /// release's yes. None: no plan applied here may name one.
    pub approvals: Option<Approvals>,
    /// CloudFormation in a release's other accounts and Regions.
    pub reach: Reach,
}

/// The approvals table, read without its task tokens, and the releases that wait on them.
#[derive(Debug, Clone)]
pub struct Approvals {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub table: String,
}

impl Deps {
    /// A misconfigured guardrail (say, overlapping environments) stops the function at start-up,
    /// named by its setting.
    pub async fn from_env() -> Result<Self, TaskError> {
        let config = crate::aws::sdk::sdk_config();
        let region = crate::aws::region_of(&config);
        let cloudformation_role_arn = env_var("CLOUDFORMATION_ROLE_ARN");
        let guardrails = crate::config::guardrails()?;
        let cloudformation = aws_sdk_cloudformation::Client::new(&config);
        Ok(Deps {
            reach: Reach::new(
                &config,
                cloudformation.clone(),
                aws_sdk_sts::Client::new(&config),
                DeployRole::from_env("create-change-set"),
            ),
            cloudformation,
            s3: crate::aws::s3_client(&config),
            polling: Polling::from_env(),
            rollback_floors: crate::config::rollback_floors(&guardrails)?,
            guardrails,
            sensitive: crate::config::sensitive_types(),
            stateful: crate::config::stateful_types()?,
            alarm_arn_prefix: alarm_arn_prefix(cloudformation_role_arn.as_deref(), &region),
            cloudformation_role_arn,
            staging_bucket: env_var("STAGING_BUCKET"),
            template_url_base: env_var("TEMPLATE_URL_BASE")
                .or_else(|| config.endpoint_url().map(str::to_string)),
            region,
            detect_drift: env_var("DRIFT_DETECTION_POLICY_ARN").is_some(),
            leases: crate::tasks::stack_lease::Leases::from_env(&config)?,
            guard: crate::config::guard_settings()?,
            approvals: env_var("APPROVALS_TABLE").map(|table| Approvals {
                dynamodb: aws_sdk_dynamodb::Client::new(&config),
                sfn: aws_sdk_sfn::Client::new(&config),
                table,
            }),
        })
    }
}

impl Deps {
    /// The plan's dependencies where the stack lives: CloudFormation there, and there the service
    /// role a change set is made with (the target account's own, `examples/target-account-role.yaml`)
    /// and the alarms it names. Templates are still read (and staged) with stackgate's own
    /// credentials, so a template from S3 is passed to another account as its body.
    pub async fn at(&self, destination: &Destination) -> Result<Cow<'_, Deps>, TaskError> {
        if destination.is_home() {
            return Ok(Cow::Borrowed(self));
        }
        let region = destination.region_or(&self.region).to_string();
        let role_arn = match &destination.account {
            Some(account) => Some(format!(
                "arn:{}:iam::{account}:role/{TARGET_CLOUDFORMATION_ROLE}",
                partition_of(&region)
            )),
            None => self.cloudformation_role_arn.clone(),
        };
        Ok(Cow::Owned(Deps {
            cloudformation: self.reach.cloudformation(destination).await?,
            alarm_arn_prefix: alarm_arn_prefix(role_arn.as_deref(), &region),
            cloudformation_role_arn: role_arn,
            // `region` stays stackgate's own: the staging bucket, whose URLs name it, is there.
            ..self.clone()
        }))
    }
}

/// Where the plan works: the request's `account` and `region`, validated before any call.
fn destination_of(request: &Value) -> Result<Destination, TaskError> {
    let text = |field: &str| match request.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(given)) => Ok(Some(given.trim().to_string())),
        Some(_) => Err(TaskError::invalid(field, "must be a string")),
    };
    Destination::new(text("account")?, text("region")?)
}

pub use crate::lifecycle::{change_set_name, Target};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    /// The workflow's state: its input, the request (plus `plan`, on a second planning pass).
    request: Value,
    /// `$$.Execution.Name`: seeds names that must be stable across retries.
    execution_name: String,
    /// `$$.Execution.Id`: the holder of the stack's lease.
    execution_arn: String,
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
    /// A release's plan its release's approval lets execute: the workflow executes it without
    /// asking again. Only ever set after reading that approval (`applying::release_approval`).
    pub release_approval: Option<applying::ReleaseApproval>,
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
    /// The alarms CloudFormation watches (ARNs): the operator's and the request's.
    pub rollback_alarms: Vec<String>,
}

/// CloudFormation's ways of saying "nothing to do" (on FAILED change sets).
pub fn means_no_changes(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let deadline = event.context.deadline;
    let mut input: Input = parse_input(event.payload)?;
    // stackgate's own Region named is a stack at home: one lease, whoever named it.
    if input.request.get("region").and_then(Value::as_str) == Some(deps.region.as_str()) {
        if let Value::Object(request) = &mut input.request {
            request.remove("region");
        }
    }
    let started = std::time::Instant::now();
    let result = match destination_of(&input.request) {
        Ok(destination) => match deps.at(&destination).await {
            Ok(there) => {
                plan::plan(
                    &there,
                    &input,
                    wait_budget(deps.polling.wait_budget, deadline),
                )
                .await
            }
            Err(error) => Err(error),
        },
        Err(error) => Err(error),
    };
    publish(deps, &input, &result, started.elapsed());
    to_output(&result?)
}

/// What the plan decided, as operators see it: a refusal or no change ends the deployment here;
/// a judged change set goes on to be executed, approved or refused by the workflow.
fn publish(
    deps: &Deps,
    input: &Input,
    result: &Result<Plan, TaskError>,
    took: std::time::Duration,
) {
    // Only a name the operator configured: the request's own text is never a dimension.
    let environment = input
        .request
        .get("environmentName")
        .and_then(Value::as_str)
        .filter(|e| deps.guardrails.manages(e));
    let deployments = Metric::count(names::DEPLOYMENTS).in_environment(environment);
    // A plan alone deploys nothing; applying one judges again what was counted as its plan.
    let plan_only = input.request.get("planExpiresAt").is_some();
    let applying = input.request.get("applyPlan").is_some();
    match result {
        Ok(plan) => match (&plan.status, &plan.inspection) {
            (PlanStatus::NoChanges, _) if !plan_only => {
                metrics::emit(deployments.with("Outcome", "NO_CHANGES"))
            }
            (PlanStatus::Ready, Some(inspection)) if !applying => {
                let verdict = match inspection.verdict {
                    Verdict::Safe => "SAFE",
                    Verdict::Unsafe => "UNSAFE",
                    Verdict::Empty => "EMPTY",
                };
                metrics::emit(
                    Metric::count(names::PLANS)
                        .in_environment(environment)
                        .with("Verdict", verdict),
                );
                metrics::emit(
                    Metric::seconds(names::PLAN_SECONDS, took.as_secs_f64())
                        .in_environment(environment),
                );
            }
            _ => {}
        },
        Err(error) => metrics::refused(environment, error),
    }
}

/// `arn:<partition>:cloudwatch:<region>:<account>:alarm:` of the account stacks are deployed in
/// (the CloudFormation service role's) and this Region, which complete alarms given by name.
pub fn alarm_arn_prefix(role_arn: Option<&str>, region: &str) -> Option<String> {
    let parts: Vec<&str> = role_arn?.split(':').collect();
    match parts.as_slice() {
        ["arn", partition, "iam", "", account, role]
            if account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && role.starts_with("role/")
                && !region.is_empty() =>
        {
            Some(format!(
                "arn:{partition}:cloudwatch:{region}:{account}:alarm:"
            ))
        }
        _ => None,
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
    fn alarm_names_complete_to_the_account_stacks_are_deployed_in() {
        assert_eq!(
            alarm_arn_prefix(Some("arn:aws:iam::123456789012:role/cfn"), "eu-west-1").as_deref(),
            Some("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:")
        );
        assert_eq!(alarm_arn_prefix(None, "eu-west-1"), None);
        assert_eq!(
            alarm_arn_prefix(Some("arn:aws:iam::1:role/x"), "eu-west-1"),
            None
        );
    }

    #[test]
    fn no_change_reasons() {
        assert!(means_no_changes("The submitted information didn't contain changes. Submit different information to create a change set."));
        assert!(means_no_changes("No updates are to be performed."));
        assert!(!means_no_changes("Template format error"));
    }
}
