//! `plan-delete`: the judgement step of safe delete. Deleting a stack removes every resource in
//! it, so each is judged by the deploy policy as a removal (`policy::judge_deletion`): a data
//! store goes without a person only if its `DeletionPolicy` keeps the data. A deletion that loses
//! data fails with `UnsafeDeletion` (the stack untouched), or, with `onUnsafe: approve`, goes to
//! people with the list of what would be lost.
//!
//! It first takes the stack's lease (one execution per stack: `crate::lease`).
//!
//! After a person's yes the workflow calls it again with the judgement's fingerprint: the stack is
//! deleted only if it is still what the person saw (an update meanwhile, say one that dropped a
//! retain policy, fails the deletion with `StackChangedSinceApproval`).

use std::collections::BTreeMap;

use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::stack_lease::Leases;
use super::{parse_input, to_output};
use crate::aws::cloudformation;
use crate::guardrails::{is_managed, Guardrails};
use crate::lifecycle::is_settled;
use crate::metrics;
use crate::policy::{judge_deletion, JudgedChange, Judgement, ResourceChange, Rules, Verdict};
use crate::request::{DeleteRequest, Deletion, OnUnsafeDeletion};
use crate::retention;
use crate::sensitive::SensitiveTypes;
use crate::stateful::StatefulTypes;
use crate::TaskError;

/// What the judgement needs, read once per process.
#[derive(Debug, Clone)]
pub struct Deps {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub guardrails: Guardrails,
    pub sensitive: SensitiveTypes,
    pub stateful: StatefulTypes,
    /// One execution per stack (`STACK_LEASES_TABLE`, `CONCURRENT_DEPLOYMENTS`).
    pub leases: Leases,
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        let config = crate::aws::sdk::sdk_config();
        Ok(Deps {
            leases: Leases::from_env(&config)?,
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            guardrails: crate::config::guardrails()?,
            sensitive: crate::config::sensitive_types(),
            stateful: crate::config::stateful_types()?,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Input {
    /// The workflow's input (the delete request) or, to confirm, the validated deletion.
    request: DeleteRequest,
    /// Set by the workflow after a person's yes: the fingerprint of the judgement they saw.
    #[serde(default)]
    approved: Option<String>,
    /// `$$.Execution.Id`: the holder of the stack's lease.
    execution_arn: String,
}

/// What the workflow routes on: the validated request and the judgement of every resource.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub deletion: Deletion,
    pub environment_name: String,
    pub judgement: Judgement,
    /// The stack and every verdict as judged: what an approval is an approval of.
    pub fingerprint: String,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let input: Input = parse_input(event.payload)?;
    let deletion = input
        .request
        .validate()
        .inspect_err(|e| metrics::refused(None, e))?;
    let environment = deps
        .guardrails
        .environment_of(deletion.stack_name.as_str())
        .map(str::to_string);
    let output = plan(
        deps,
        deletion,
        input.approved.as_deref(),
        &input.execution_arn,
    )
    .await
    .inspect_err(|e| metrics::refused(environment.as_deref(), e))?;
    to_output(&output)
}

/// Statuses of resources that are gone already.
const GONE: [&str; 2] = ["DELETE_COMPLETE", "DELETE_SKIPPED"];

/// Judges the deletion; with `approved`, confirms that the stack is still what was approved.
/// `holder`: the execution taking the stack's lease.
pub async fn plan(
    deps: &Deps,
    deletion: Deletion,
    approved: Option<&str>,
    holder: &str,
) -> Result<Output, TaskError> {
    let stack = deletion.stack_name.to_string();
    let not_managed = || TaskError::StackNotManaged {
        stack: stack.clone(),
    };
    let environment = deps
        .guardrails
        .environment_of(&stack)
        .ok_or_else(not_managed)?
        .to_string();
    // One execution per stack (deployments and deletions alike), taken before the stack is read.
    deps.leases.take(&stack, holder).await?;
    let summary = cloudformation::describe_stack(&deps.cloudformation, &deletion.stack_id).await?;
    let (resources, state) = match summary {
        // Gone already: deleting it again changes nothing.
        None => (Vec::new(), None),
        Some(s) if s.status == "DELETE_COMPLETE" => (Vec::new(), None),
        Some(s) if !is_managed(&s.tags, &environment) => return Err(not_managed()),
        Some(s) if s.parent_id.is_some() => {
            // Its parent decides what happens to it (and may retain it).
            return Err(TaskError::invalid(
                "stackName",
                "names a nested stack; delete the stack it is nested in",
            ));
        }
        // What a stack in the middle of an operation will hold is not known yet.
        Some(s) if !is_settled(&s.status) => {
            return Err(TaskError::StackBusy {
                stack,
                status: s.status,
            })
        }
        Some(s) => {
            let resources =
                cloudformation::stack_resources(&deps.cloudformation, &deletion.stack_id)
                    .await?
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|r| !GONE.contains(&r.status.as_str()))
                    .map(|r| ResourceChange {
                        action: "Remove".into(),
                        logical_resource_id: r.logical_resource_id,
                        resource_type: r.resource_type,
                        ..ResourceChange::default()
                    })
                    .collect();
            (resources, Some(s))
        }
    };
    let policies = if resources.is_empty() {
        BTreeMap::new()
    } else {
        cloudformation::current_template(&deps.cloudformation, Some(&deletion.stack_id), None)
            .await?
            .map(|text| retention::policies(&text))
            .unwrap_or_default()
    };
    let rules = Rules {
        sensitive: &deps.sensitive,
        stateful: &deps.stateful,
        policies: &policies,
        next_policies: &BTreeMap::new(),
        stack: &stack,
        allow_data_loss: &[],
    };
    let (mut verdict, mut judged) = judge_deletion(&resources, &rules);
    if let Some(failed) = state
        .as_ref()
        .filter(|s| holds_what_its_template_may_not_say(&s.status))
    {
        judged.push(JudgedChange {
            action: "Remove".into(),
            logical_resource_id: stack.clone(),
            resource_type: "AWS::CloudFormation::Stack".into(),
            replacement: None,
            safe: false,
            security_sensitive: false,
            reason: format!(
                "the stack is {}: its resources may not be what its template says (retain policies included)",
                failed.status
            ),
            values: Vec::new(),
        });
        verdict = Verdict::Unsafe;
    }
    let fingerprint = fingerprint(&deletion.stack_id, state.as_ref(), &judged);
    let judgement = Judgement::new(verdict, judged);
    tracing::info!(stack, verdict = ?judgement.verdict, total = judgement.total_changes, unsafe_resources = judgement.unsafe_changes, confirming = approved.is_some(), "deletion judged");
    match approved {
        Some(approved) if approved != fingerprint => {
            return Err(TaskError::StackChangedSinceApproval { stack });
        }
        // A person said yes to exactly this.
        Some(_) => {}
        None if judgement.verdict == Verdict::Unsafe
            && deletion.on_unsafe == OnUnsafeDeletion::Fail =>
        {
            return Err(TaskError::UnsafeDeletion {
                stack,
                unsafe_resources: judgement.unsafe_changes,
                total_resources: judgement.total_changes,
                summary: judgement.summary,
            });
        }
        None => {}
    }
    Ok(Output {
        deletion,
        environment_name: environment,
        judgement,
        fingerprint,
    })
}

/// A stack whose last operation failed part-way: some resources may be in the state of one
/// template, some of another.
fn holds_what_its_template_may_not_say(status: &str) -> bool {
    status.ends_with("_FAILED") && status != "DELETE_FAILED"
}

/// The stack as judged: its id, status and last update, and every verdict with its reason.
fn fingerprint(
    stack_id: &str,
    state: Option<&cloudformation::StackSummary>,
    judged: &[JudgedChange],
) -> String {
    let mut hash = Sha256::new();
    for part in [
        stack_id,
        state.map_or("", |s| s.status.as_str()),
        state.and_then(|s| s.last_updated.as_deref()).unwrap_or(""),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let mut lines: Vec<String> = judged
        .iter()
        .map(|c| {
            format!(
                "{}\u{0}{}\u{0}{}\u{0}{}",
                c.logical_resource_id, c.resource_type, c.safe, c.reason
            )
        })
        .collect();
    lines.sort();
    for line in lines {
        hash.update(line.as_bytes());
        hash.update([0]);
    }
    hash.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}
