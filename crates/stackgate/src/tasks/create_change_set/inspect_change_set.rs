//! Inspection, a step of create-change-set's plan: judges every change (all pages, nested stacks)
//! against the safety policy, with the retain policies of the stack's current template.

use std::collections::BTreeMap;

use super::Deps;
use crate::aws::{cloudformation, s3};
use crate::guard;
use crate::policy::{judge, Judgement, Rules};
use crate::request::{Deployment, TemplateSource};
use crate::retention;
use crate::template_origins;
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
    check_template_origins(deps, stack, change_set, deployment, &changes).await?;
    let removes_or_replaces = changes.iter().any(|c| {
        c.replacement_known_after_apply
            || c.action != "Add"
                && !(c.action == "Modify" && c.replacement.as_deref() == Some("False"))
    });
    let retention_matters = stack_exists && removes_or_replaces;
    // The template CloudFormation will deploy: its retain policies, and what the Guard rules read.
    let next_template = if retention_matters || deps.guard.enabled() {
        cloudformation::current_template(&deps.cloudformation, Some(stack), Some(change_set))
            .await?
    } else {
        None
    };
    let (policies, next_policies) = if retention_matters {
        (
            retain_policies(deps, stack, None).await?,
            next_template
                .as_deref()
                .map(retention::policies)
                .unwrap_or_default(),
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
    let mut output = summarise(&changes, &rules);
    if deps.guard.enabled() {
        let template = next_template.ok_or_else(|| {
            TaskError::InvalidTemplate(format!(
                "the template of change set {change_set} could not be read for the Guard rules"
            ))
        })?;
        let failures = guard_failures(deps, &template, &changes).await?;
        output = output.with_guard_failures(
            failures.iter().map(guard::Failure::line).collect(),
            deps.guard.on_failure == guard::OnFailure::Approve,
        );
    }
    tracing::info!(stack, change_set, verdict = ?output.verdict, total = output.total_changes, unsafe_changes = output.unsafe_changes, "change set inspected");
    Ok(output)
}

/// Guarantee 1 for a template's parts: nested stacks' templates, and the includes of every template
/// CloudFormation read itself (by the request's URL, or a nested stack's), as submitted; stackgate
/// checked the text it read itself before the change set was made.
async fn check_template_origins(
    deps: &Deps,
    stack: &str,
    change_set: &str,
    deployment: &Deployment,
    changes: &[crate::policy::ResourceChange],
) -> Result<(), TaskError> {
    template_origins::check_nested_stacks(&deps.guardrails, changes)?;
    let by_url = matches!(deployment.source, TemplateSource::Url { .. })
        .then_some((Some(stack), change_set));
    let nested = changes
        .iter()
        .filter_map(|c| c.nested_change_set.as_deref())
        .map(|arn| (None, arn));
    for (stack, change_set) in by_url.into_iter().chain(nested) {
        let submitted = cloudformation::submitted_template(&deps.cloudformation, stack, change_set)
            .await?
            .ok_or_else(|| {
                TaskError::InvalidTemplate(format!(
                    "the template of change set {change_set} could not be read for its includes"
                ))
            })?;
        template_origins::check_includes(&deps.guardrails, &guard::template_json(&submitted)?)?;
    }
    Ok(())
}

/// The retain policies of the stack's current template, or of the change set's.
async fn retain_policies(
    deps: &Deps,
    stack: &str,
    change_set: Option<&str>,
) -> Result<BTreeMap<String, retention::Policies>, TaskError> {
    Ok(
        cloudformation::current_template(&deps.cloudformation, Some(stack), change_set)
            .await?
            .map(|text| retention::policies(&text))
            .unwrap_or_default(),
    )
}

/// The Guard rules the template and its nested stacks' templates fail (each nested stack's from its
/// own change set; one the change set does not list fails `NESTED_STACK_NOT_EVALUATED`, rather than
/// hide what it holds from the rules).
async fn guard_failures(
    deps: &Deps,
    template: &str,
    changes: &[crate::policy::ResourceChange],
) -> Result<Vec<guard::Failure>, TaskError> {
    let rules = guard_rules(deps).await?;
    let mut failures = guard::evaluate(&rules, template)?;
    for change in changes {
        if change.resource_type != "AWS::CloudFormation::Stack" || change.action == "Remove" {
            continue;
        }
        let mut path = change.nested_path.clone();
        path.push(change.logical_resource_id.clone());
        let path = path.join("/");
        let Some(nested) = &change.nested_change_set else {
            failures.push(guard::Failure::nested_not_evaluated(path));
            continue;
        };
        let text = cloudformation::current_template(&deps.cloudformation, None, Some(nested))
            .await?
            .ok_or_else(|| {
                TaskError::InvalidTemplate(format!(
                    "the template of nested stack {path} could not be read for the Guard rules"
                ))
            })?;
        failures.extend(
            guard::evaluate(&rules, &text)?
                .into_iter()
                .map(|failure| failure.within(&path)),
        );
    }
    Ok(guard::merged(failures))
}

/// The rules of a plan: the bundled ones, and the operator's rules file, read for every plan (a
/// changed file applies to the next deployment; one that is missing or does not parse fails the
/// plan, named, rather than let templates through unchecked).
async fn guard_rules(deps: &Deps) -> Result<Vec<guard::RulesFile>, TaskError> {
    let mut rules = Vec::new();
    if deps.guard.defaults {
        rules.push(guard::RulesFile::bundled());
    }
    if let Some((bucket, key)) = &deps.guard.rules_object {
        let as_setting = |error: TaskError| match error {
            TaskError::InvalidTemplate(message) => TaskError::invalid("GUARD_RULES", message),
            other => other,
        };
        let bytes = s3::get_object(&deps.s3, bucket, key, guard::MAX_RULES_BYTES as u64)
            .await
            .map_err(as_setting)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            TaskError::invalid(
                "GUARD_RULES",
                format!("s3://{bucket}/{key} is not UTF-8 text"),
            )
        })?;
        let file = guard::RulesFile {
            name: key.rsplit('/').next().unwrap_or(key).to_string(),
            text,
        };
        guard::check_rules(&file)?;
        rules.push(file);
    }
    Ok(rules)
}

pub fn summarise(changes: &[crate::policy::ResourceChange], rules: &Rules) -> Output {
    let (verdict, judged) = judge(changes, rules);
    Judgement::new(verdict, judged)
}
