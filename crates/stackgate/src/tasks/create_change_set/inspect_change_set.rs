//! Inspection, a step of create-change-set's plan: judges every change (all pages, nested stacks)
//! against the safety policy, with the retain policies of the stack's current template.

use std::collections::BTreeMap;

use super::Deps;
use crate::aws::cloudformation;
use crate::policy::{judge, Judgement, Rules};
use crate::request::Deployment;
use crate::retention;
use crate::TaskError;

/// What the inspection says: the judgement of every change (`policy::Judgement`).
pub type Output = Judgement;

/// Judges a change set. `stack_exists`: the change set updates a stack whose current template
/// holds the retain policies of what it removes or replaces. From the deployment: the parameters
/// whose values are never shown (besides those CloudFormation masks as NoEcho), and the logical
/// ids whose data loss the request accepts.
pub async fn inspect(
    deps: &Deps,
    stack: &str,
    change_set: &str,
    stack_exists: bool,
    deployment: &Deployment,
) -> Result<Output, TaskError> {
    // The request's secret parameters (SSM-typed ones resolve to plain values in the change set).
    let secret_parameters = deployment.secret_parameters.iter().cloned().collect();
    let changes =
        cloudformation::all_changes(&deps.cloudformation, stack, change_set, &secret_parameters)
            .await?;
    let removes_or_replaces = changes.iter().any(|c| {
        c.replacement_known_after_apply
            || c.action != "Add"
                && !(c.action == "Modify" && c.replacement.as_deref() == Some("False"))
    });
    let (policies, next_policies) = if stack_exists && removes_or_replaces {
        (
            retain_policies(deps, stack, None).await?,
            retain_policies(deps, stack, Some(change_set)).await?,
        )
    } else {
        (BTreeMap::new(), BTreeMap::new())
    };
    let rules = Rules {
        sensitive: &deps.sensitive,
        stateful: &deps.stateful,
        policies: &policies,
        next_policies: &next_policies,
        stack,
        allow_data_loss: &deployment.allow_data_loss,
    };
    let output = summarise(&changes, &rules);
    tracing::info!(stack, change_set, verdict = ?output.verdict, total = output.total_changes, unsafe_changes = output.unsafe_changes, "change set inspected");
    Ok(output)
}

/// The retain policies of the stack's current template, or of the change set's.
async fn retain_policies(
    deps: &Deps,
    stack: &str,
    change_set: Option<&str>,
) -> Result<BTreeMap<String, retention::Policies>, TaskError> {
    Ok(
        cloudformation::current_template(&deps.cloudformation, stack, change_set)
            .await?
            .map(|text| retention::policies(&text))
            .unwrap_or_default(),
    )
}

pub fn summarise(changes: &[crate::policy::ResourceChange], rules: &Rules) -> Output {
    let (verdict, judged) = judge(changes, rules);
    Judgement::new(verdict, judged)
}
