//! `plan-delete`: the judgement step of safe delete. Deleting a stack removes every resource in
//! it, so each is judged by the deploy policy as a removal (`policy::judge_deletion`): a data
//! store goes without a person only if its `DeletionPolicy` keeps the data. A deletion that loses
//! data fails with `UnsafeDeletion` (the stack untouched), or, with `onUnsafe: approve`, goes to
//! people with the list of what would be lost.

use std::collections::BTreeMap;

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use super::{parse_input, to_output};
use crate::aws::cloudformation;
use crate::guardrails::{is_managed, Guardrails};
use crate::policy::{judge_deletion, Judgement, ResourceChange, Rules, Verdict};
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
}

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        Ok(Deps {
            cloudformation: aws_sdk_cloudformation::Client::new(&crate::aws::sdk::sdk_config()),
            guardrails: crate::config::guardrails()?,
            sensitive: crate::config::sensitive_types(),
            stateful: crate::config::stateful_types(),
        })
    }
}

/// What the workflow routes on: the validated request and the judgement of every resource.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    pub deletion: Deletion,
    pub environment_name: String,
    pub judgement: Judgement,
}

pub async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, TaskError> {
    let request: DeleteRequest = parse_input(event.payload)?;
    let output = plan(deps, request.validate()?).await?;
    to_output(&output)
}

/// Statuses of resources that are gone already.
const GONE: [&str; 2] = ["DELETE_COMPLETE", "DELETE_SKIPPED"];

pub async fn plan(deps: &Deps, deletion: Deletion) -> Result<Output, TaskError> {
    let stack = deletion.stack_name.to_string();
    let not_managed = || TaskError::StackNotManaged {
        stack: stack.clone(),
    };
    let environment = deps
        .guardrails
        .environment_of(&stack)
        .ok_or_else(not_managed)?
        .to_string();
    let summary = cloudformation::describe_stack(&deps.cloudformation, &deletion.stack_id).await?;
    let resources = match summary {
        // Gone already: deleting it again changes nothing.
        None => Vec::new(),
        Some(s) if s.status == "DELETE_COMPLETE" => Vec::new(),
        Some(s) if !is_managed(&s.tags, &environment) => return Err(not_managed()),
        Some(_) => cloudformation::stack_resources(&deps.cloudformation, &deletion.stack_id)
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
            .collect(),
    };
    let policies = if resources.is_empty() {
        BTreeMap::new()
    } else {
        cloudformation::current_template(&deps.cloudformation, &deletion.stack_id, None)
            .await?
            .map(|text| retention::policies(&text))
            .unwrap_or_default()
    };
    let rules = Rules {
        sensitive: &deps.sensitive,
        stateful: &deps.stateful,
        policies: &policies,
        next_policies: &BTreeMap::new(),
    };
    let (verdict, judged) = judge_deletion(&resources, &rules);
    let judgement = Judgement::new(verdict, judged);
    tracing::info!(stack, verdict = ?judgement.verdict, total = judgement.total_changes, unsafe_resources = judgement.unsafe_changes, "deletion judged");
    if judgement.verdict == Verdict::Unsafe && deletion.on_unsafe == OnUnsafeDeletion::Fail {
        return Err(TaskError::UnsafeDeletion {
            stack,
            unsafe_resources: judgement.unsafe_changes,
            total_resources: judgement.total_changes,
            summary: judgement.summary,
        });
    }
    Ok(Output {
        deletion,
        environment_name: environment,
        judgement,
    })
}
