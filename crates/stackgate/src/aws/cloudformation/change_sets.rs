//! Change sets: CreateChangeSet, its status, every change it holds (all pages, nested stacks'
//! change sets too), DeleteChangeSet. What a change does to a value is read here, masked
//! (`crate::values`), so that an unmasked value is never held.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetType, Parameter, RollbackConfiguration, RollbackTrigger, Tag,
};
use aws_sdk_cloudformation::Client;

use super::resource_change::{
    changed_properties, replacement_known_after_apply, replacing_properties, shown_values,
    template_ref,
};
use crate::aws::{classify, is_stack_missing};
use crate::policy::ResourceChange;
use crate::values;
use crate::TaskError;

/// Nested stacks nest at most five deep in CloudFormation; this bounds the walk regardless.
const MAX_NESTING: usize = 8;

/// What CreateChangeSet needs, already decided.
#[derive(Debug, Clone)]
pub struct ChangeSetRequest<'a> {
    pub stack_name: &'a str,
    pub change_set_name: &'a str,
    pub change_set_type: ChangeSetType,
    pub template_body: Option<&'a str>,
    pub template_url: Option<&'a str>,
    pub parameters: &'a BTreeMap<String, String>,
    pub tags: &'a BTreeMap<String, String>,
    pub capabilities: &'a [crate::request::Capability],
    pub role_arn: Option<&'a str>,
    pub client_token: &'a str,
    pub description: &'a str,
    /// Alarm ARNs CloudFormation watches; always sent, so that triggers a stack kept from an
    /// earlier deployment do not linger unseen (an empty list clears them).
    pub rollback_alarms: &'a [String],
    pub monitoring_minutes: u32,
}

fn rollback_configuration(alarms: &[String], minutes: u32) -> RollbackConfiguration {
    RollbackConfiguration::builder()
        .set_rollback_triggers(Some(
            alarms
                .iter()
                .map(|arn| {
                    RollbackTrigger::builder()
                        .arn(arn)
                        .r#type("AWS::CloudWatch::Alarm")
                        .build()
                })
                .collect(),
        ))
        .monitoring_time_in_minutes(i32::try_from(minutes).unwrap_or(i32::MAX))
        .build()
}

/// Creates the change set; an existing one of the same name (a retried task) is accepted.
pub async fn create_change_set(
    client: &Client,
    request: &ChangeSetRequest<'_>,
) -> Result<(), TaskError> {
    let mut call = client
        .create_change_set()
        .stack_name(request.stack_name)
        .change_set_name(request.change_set_name)
        .change_set_type(request.change_set_type.clone())
        .client_token(request.client_token)
        .description(request.description)
        .include_nested_stacks(true)
        .set_template_body(request.template_body.map(str::to_string))
        .set_template_url(request.template_url.map(str::to_string))
        .set_role_arn(request.role_arn.map(str::to_string))
        .rollback_configuration(rollback_configuration(
            request.rollback_alarms,
            request.monitoring_minutes,
        ));
    for (key, value) in request.parameters {
        call = call.parameters(
            Parameter::builder()
                .parameter_key(key)
                .parameter_value(value)
                .build(),
        );
    }
    for (key, value) in request.tags {
        call = call.tags(Tag::builder().key(key).value(value).build());
    }
    for capability in request.capabilities {
        call = call.capabilities(Capability::from(capability.as_str()));
    }
    match call.send().await {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(error) => Err(stack_busy(request.stack_name, &error)
            .unwrap_or_else(|| classify("CreateChangeSet", &error))),
    }
}

/// CloudFormation's refusal of a stack that started an operation after the plan read it
/// ("Stack:arn:... is in UPDATE_IN_PROGRESS state and can not be updated."): `StackBusy`.
fn stack_busy<E: ProvideErrorMetadata, R>(
    stack: &str,
    error: &aws_sdk_cloudformation::error::SdkError<E, R>,
) -> Option<TaskError> {
    let service = error.as_service_error()?;
    let message = service.message()?;
    if service.code() != Some("ValidationError") {
        return None;
    }
    let status = message
        .split_whitespace()
        .find(|word| word.ends_with("_IN_PROGRESS"))?;
    message
        .contains("state and can not be updated")
        .then(|| TaskError::StackBusy {
            stack: stack.to_string(),
            status: status.to_string(),
        })
}

/// Deletes a change set; one already gone (a retried task) is not an error. True when this call
/// deleted it.
pub async fn delete_change_set(
    client: &Client,
    stack: &str,
    change_set: &str,
) -> Result<bool, TaskError> {
    match client
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(change_set)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.code() == Some("ChangeSetNotFound")) =>
        {
            Ok(false)
        }
        Err(error) => Err(classify("DeleteChangeSet", &error)),
    }
}

/// Executes a change set; true when a retry (its first answer lost) finds it already executing or
/// executed. A change set that did not run and cannot is an error.
pub async fn execute_change_set(
    client: &Client,
    stack: &str,
    change_set: &str,
    token: &str,
) -> Result<bool, TaskError> {
    let sent = client
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(change_set)
        .client_request_token(token)
        .send()
        .await;
    let error = match sent {
        Ok(_) => return Ok(false),
        Err(error) => error,
    };
    let not_executable = error
        .as_service_error()
        .is_some_and(|e| e.is_invalid_change_set_status_exception());
    if not_executable
        && self::change_set(client, stack, change_set)
            .await?
            .is_some_and(|c| c.execution_started)
    {
        return Ok(true);
    }
    Err(classify("ExecuteChangeSet", &error))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetStatus {
    pub change_set_id: String,
    pub stack_id: String,
    pub status: String,
    pub reason: Option<String>,
    /// Whether it can be executed (`ExecutionStatus` AVAILABLE).
    pub executable: bool,
    /// Whether it has been executed (`ExecutionStatus` EXECUTE_IN_PROGRESS or EXECUTE_COMPLETE).
    pub execution_started: bool,
}

/// A change set as it stands now (first page only: no changes are read here); `None` when it, or
/// its stack, does not exist. CloudFormation says ChangeSetNotFound, or a ValidationError "does not
/// exist" when the stack itself is gone (moto says the latter for both).
pub async fn change_set(
    client: &Client,
    stack: &str,
    change_set: &str,
) -> Result<Option<ChangeSetStatus>, TaskError> {
    match client
        .describe_change_set()
        .stack_name(stack)
        .change_set_name(change_set)
        .send()
        .await
    {
        Ok(output) => Ok(Some(ChangeSetStatus {
            change_set_id: output.change_set_id().unwrap_or(change_set).to_string(),
            stack_id: output.stack_id().unwrap_or(stack).to_string(),
            status: output
                .status()
                .map_or_else(String::new, |s| s.as_str().to_string()),
            reason: output.status_reason().map(str::to_string),
            executable: output.execution_status().map(|s| s.as_str()) == Some("AVAILABLE"),
            execution_started: matches!(
                output.execution_status().map(|s| s.as_str()),
                Some("EXECUTE_IN_PROGRESS" | "EXECUTE_COMPLETE")
            ),
        })),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_change_set_not_found_exception())
                || is_stack_missing(&error) =>
        {
            Ok(None)
        }
        Err(error) => Err(classify("DescribeChangeSet", &error)),
    }
}

/// Every resource change of a change set: all DescribeChangeSet pages, and the change sets of
/// nested stacks, recursively.
pub async fn all_changes(
    client: &Client,
    stack: &str,
    change_set: &str,
    secret_parameters: &BTreeSet<String>,
) -> Result<Vec<ResourceChange>, TaskError> {
    let mut changes = Vec::new();
    let mut seen = HashSet::new();
    // (stack, change set, path of nested logical ids)
    let mut pending: Vec<(Option<String>, String, Vec<String>)> =
        vec![(Some(stack.to_string()), change_set.to_string(), Vec::new())];
    while let Some((stack_name, change_set_id, path)) = pending.pop() {
        if !seen.insert(change_set_id.clone()) {
            continue;
        }
        if path.len() > MAX_NESTING {
            return Err(TaskError::Aws {
                operation: "DescribeChangeSet".into(),
                message: format!("nested change sets deeper than {MAX_NESTING} levels"),
            });
        }
        let mut next_token: Option<String> = None;
        let mut secret_parameters = secret_parameters.clone();
        loop {
            let output = client
                .describe_change_set()
                .set_stack_name(stack_name.clone())
                .change_set_name(&change_set_id)
                // Before/after property values: an added resource is judged by what it is created
                // with (CloudFormation gives no Details for additions).
                .include_property_values(true)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| classify("DescribeChangeSet", &e))?;
            // CloudFormation writes `****` for the values of NoEcho parameters (kept across pages,
            // in case a later page leaves the parameters out).
            secret_parameters.extend(
                output
                    .parameters()
                    .iter()
                    .filter(|p| p.parameter_value() == Some(values::NO_ECHO_MASK))
                    .filter_map(|p| p.parameter_key().map(str::to_string)),
            );
            for change in output.changes() {
                let Some(resource) = change.resource_change() else {
                    // A change that is not about a resource carries nothing to judge.
                    continue;
                };
                let logical_id = resource
                    .logical_resource_id()
                    .unwrap_or_default()
                    .to_string();
                let resource_type = resource.resource_type().unwrap_or_default();
                let nested_change_set = resource.change_set_id().map(str::to_string);
                let nested_changes_unlisted = match resource.change_set_id() {
                    Some(nested) => {
                        let mut nested_path = path.clone();
                        nested_path.push(logical_id.clone());
                        pending.push((None, nested.to_string(), nested_path));
                        false
                    }
                    // Change sets are created with their nested stacks' (IncludeNestedStacks):
                    // an updated nested stack without one hides what it changes.
                    None => {
                        resource_type == "AWS::CloudFormation::Stack"
                            && resource.action().map(|a| a.as_str()) == Some("Modify")
                    }
                };
                changes.push(ResourceChange {
                    action: resource
                        .action()
                        .map_or_else(String::new, |a| a.as_str().to_string()),
                    logical_resource_id: logical_id,
                    resource_type: resource_type.to_string(),
                    replacement: resource.replacement().map(|r| r.as_str().to_string()),
                    nested_path: path.clone(),
                    changed_properties: changed_properties(resource),
                    policy_action: resource.policy_action().map(|a| a.as_str().to_string()),
                    nested_changes_unlisted,
                    nested_change_set,
                    replacement_known_after_apply: replacement_known_after_apply(resource),
                    replacing_properties: replacing_properties(resource),
                    values: shown_values(resource, &secret_parameters, !path.is_empty()),
                    template: template_ref(resource_type, resource.after_context()),
                });
            }
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => break,
            }
        }
    }
    Ok(changes)
}
