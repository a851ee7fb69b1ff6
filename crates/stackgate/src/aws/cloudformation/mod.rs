//! CloudFormation adapter: the calls stackgate makes, with pagination and error mapping. Longer
//! than the other adapters because stackgate makes most of its calls here; one module per service
//! keeps every CloudFormation call (and its fault-matrix row) in one place.

mod drift;
pub use drift::{drift_detection_status, drifted_resources, start_drift_detection, DetectionState};

use std::collections::{BTreeMap, BTreeSet, HashSet};

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::{
    Capability, ChangeSetType, Parameter, RollbackConfiguration, RollbackTrigger, Tag,
};
use aws_sdk_cloudformation::Client;

use super::{classify, is_stack_missing};
use crate::policy::ResourceChange;
use crate::root_cause::StackEvent;
use crate::values;
use crate::TaskError;

/// Nested stacks nest at most five deep in CloudFormation; this bounds the walk regardless.
const MAX_NESTING: usize = 8;
/// Event pages read when looking for a root cause (100 events a page).
const MAX_EVENT_PAGES: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSummary {
    pub stack_id: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub outputs: BTreeMap<String, String>,
    pub termination_protection: bool,
    /// Last update (or creation) time, RFC 3339.
    pub last_updated: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// The stack this one is nested in, if any.
    pub parent_id: Option<String>,
}

/// DescribeStacks for one stack; `None` only for CloudFormation's "does not exist".
pub async fn describe_stack(
    client: &Client,
    stack: &str,
) -> Result<Option<StackSummary>, TaskError> {
    let output = match client.describe_stacks().stack_name(stack).send().await {
        Ok(output) => output,
        Err(error) if is_stack_missing(&error) => return Ok(None),
        Err(error) => return Err(classify("DescribeStacks", &error)),
    };
    let Some(found) = output.stacks().first() else {
        return Ok(None);
    };
    Ok(Some(StackSummary {
        stack_id: found.stack_id().unwrap_or(stack).to_string(),
        status: found
            .stack_status()
            .map_or_else(String::new, |s| s.as_str().to_string()),
        status_reason: found.stack_status_reason().map(str::to_string),
        outputs: found
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect(),
        termination_protection: found.enable_termination_protection().unwrap_or(false),
        parent_id: found.parent_id().map(str::to_string),
        last_updated: found
            .last_updated_time()
            .or(found.creation_time())
            .and_then(|t| {
                t.fmt(aws_sdk_cloudformation::primitives::DateTimeFormat::DateTime)
                    .ok()
            }),
        tags: found
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect(),
    }))
}

/// The stack's current template as CloudFormation runs it (GetTemplate, `Processed`: after
/// transforms such as SAM's, so its logical ids are the change set's), or a change set's template
/// (by name with its stack, or by ARN alone: a nested stack's); `None` when the stack does not exist.
pub async fn current_template(
    client: &Client,
    stack: Option<&str>,
    change_set: Option<&str>,
) -> Result<Option<String>, TaskError> {
    match client
        .get_template()
        .set_stack_name(stack.map(str::to_string))
        .set_change_set_name(change_set.map(str::to_string))
        .template_stage(aws_sdk_cloudformation::types::TemplateStage::Processed)
        .send()
        .await
    {
        Ok(output) => Ok(output.template_body().map(str::to_string)),
        Err(error) if is_stack_missing(&error) => Ok(None),
        Err(error) => Err(classify("GetTemplate", &error)),
    }
}

/// The parameters a template declares (GetTemplateSummary), from its body or its URL.
pub async fn declared_parameters(
    client: &Client,
    template_body: Option<&str>,
    template_url: Option<&str>,
) -> Result<Vec<crate::request::DeclaredParameter>, TaskError> {
    let output = client
        .get_template_summary()
        .set_template_body(template_body.map(str::to_string))
        .set_template_url(template_url.map(str::to_string))
        .send()
        .await
        .map_err(|e| {
            // A template CloudFormation cannot read or parse is the template's problem, said as such
            // ("Template format error: ...", "Template file referenced by ... does not exist").
            let service = e.as_service_error();
            match service.and_then(|s| s.message()) {
                Some(message)
                    if service.and_then(|s| s.code()) == Some("ValidationError")
                        && message.contains("emplate") =>
                {
                    TaskError::InvalidTemplate(message.to_string())
                }
                _ => classify("GetTemplateSummary", &e),
            }
        })?;
    Ok(output
        .parameters()
        .iter()
        .filter_map(|p| {
            Some(crate::request::DeclaredParameter {
                name: p.parameter_key()?.to_string(),
                no_echo: p.no_echo() == Some(true),
                ssm_typed: p
                    .parameter_type()
                    .is_some_and(|t| t.starts_with("AWS::SSM::Parameter::Value<")),
            })
        })
        .collect())
}

/// Whether the stack holds any resource (one page is enough to know).
pub async fn has_resources(client: &Client, stack: &str) -> Result<bool, TaskError> {
    let output = client
        .list_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| classify("ListStackResources", &e))?;
    Ok(!output.stack_resource_summaries().is_empty())
}

/// One resource of a stack, as ListStackResources lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackResource {
    pub logical_resource_id: String,
    pub resource_type: String,
    pub status: String,
}

/// Every resource of a stack (all ListStackResources pages); `None` when the stack does not exist.
pub async fn stack_resources(
    client: &Client,
    stack: &str,
) -> Result<Option<Vec<StackResource>>, TaskError> {
    // A stack holds at most 500 resources, 100 a page; more pages mean a token that never ends.
    const MAX_PAGES: usize = 10;
    let mut resources = Vec::new();
    let mut next_token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let output = match client
            .list_stack_resources()
            .stack_name(stack)
            .set_next_token(next_token.take())
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) if is_stack_missing(&error) => return Ok(None),
            Err(error) => return Err(classify("ListStackResources", &error)),
        };
        resources.extend(output.stack_resource_summaries().iter().map(|r| {
            StackResource {
                logical_resource_id: r.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: r.resource_type().unwrap_or_default().to_string(),
                status: r
                    .resource_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            }
        }));
        match output.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => return Ok(Some(resources)),
        }
    }
    Err(TaskError::Aws {
        operation: "ListStackResources".into(),
        message: format!("more than {MAX_PAGES} pages of resources"),
    })
}

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

/// Deletes a change set; one already gone (a retried task) is not an error.
pub async fn delete_change_set(
    client: &Client,
    stack: &str,
    change_set: &str,
) -> Result<(), TaskError> {
    match client
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(change_set)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.code() == Some("ChangeSetNotFound")) =>
        {
            Ok(())
        }
        Err(error) => Err(classify("DeleteChangeSet", &error)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSetStatus {
    pub change_set_id: String,
    pub stack_id: String,
    pub status: String,
    pub reason: Option<String>,
    /// Whether it can be executed (`ExecutionStatus` AVAILABLE).
    pub executable: bool,
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

/// CloudFormation writes `{{changeSet:KNOWN_AFTER_APPLY}}` for a new value it cannot know before
/// execution. Whether the resource is then replaced depends on it when the property holding it can
/// force a replacement: a `Properties` detail whose `RequiresRecreation` is not `Never` (absent
/// counts as may), whose new value is unknown (its `AfterValue`, or the change's `AfterContext`
/// where the detail carries no value).
fn replacement_known_after_apply(resource: &aws_sdk_cloudformation::types::ResourceChange) -> bool {
    const UNKNOWN: &str = "{{changeSet:KNOWN_AFTER_APPLY}}";
    let context_unknown = resource
        .after_context()
        .is_some_and(|after| after.contains(UNKNOWN));
    resource.details().iter().any(|d| {
        d.target().is_some_and(|t| {
            t.attribute().map(|a| a.as_str()) == Some("Properties")
                && t.requires_recreation().map(|r| r.as_str()) != Some("Never")
                && match t.after_value() {
                    Some(value) => value.contains(UNKNOWN),
                    None => context_unknown,
                }
        })
    })
}

/// The changed properties that force or may force a replacement, in the order CloudFormation
/// lists them.
fn replacing_properties(resource: &aws_sdk_cloudformation::types::ResourceChange) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for target in resource.details().iter().filter_map(|d| d.target()) {
        let recreates = matches!(
            target.requires_recreation().map(|r| r.as_str()),
            Some("Always" | "Conditionally")
        );
        if target.attribute().map(|a| a.as_str()) == Some("Properties") && recreates {
            if let Some(name) = target.name().filter(|n| !names.iter().any(|m| m == n)) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// The changed properties' values, masked as they are read (an unmasked one is never kept). A
/// path's entries are taken together: one caused by a secret parameter masks the path. Inside a
/// nested stack every value a parameter causes is masked (the parent may pass it a secret through a
/// parameter the child does not declare NoEcho).
fn shown_values(
    resource: &aws_sdk_cloudformation::types::ResourceChange,
    secret_parameters: &BTreeSet<String>,
    nested: bool,
) -> Vec<values::ShownValue> {
    let resource_type = resource.resource_type().unwrap_or_default();
    // (path, before, after, caused by a secret), in CloudFormation's order.
    let mut paths: Vec<(&str, Option<&str>, Option<&str>, bool)> = Vec::new();
    for detail in resource.details() {
        let Some(target) = detail.target() else {
            continue;
        };
        if target.attribute().map(|a| a.as_str()) != Some("Properties") {
            continue;
        }
        let path = target.path().or(target.name()).unwrap_or_default();
        let by_parameter = detail.change_source().map(|s| s.as_str()) == Some("ParameterReference");
        let secret = by_parameter
            && (nested
                || detail
                    .causing_entity()
                    .is_some_and(|p| secret_parameters.contains(p)));
        match paths.iter_mut().find(|(p, ..)| *p == path) {
            Some(entry) => {
                entry.1 = entry.1.or(target.before_value());
                entry.2 = entry.2.or(target.after_value());
                entry.3 |= secret;
            }
            None => paths.push((path, target.before_value(), target.after_value(), secret)),
        }
    }
    paths
        .into_iter()
        .filter(|(_, before, after, _)| before.is_some() || after.is_some())
        .take(values::MAX_VALUES_PER_CHANGE)
        .map(|(path, before, after, caused_by_secret)| {
            values::shown(&values::DescribedValue {
                path,
                resource_type,
                before,
                after,
                caused_by_secret,
            })
        })
        .collect()
}

/// The properties a change touches: those its Details name, and for an addition every property it
/// is created with (for a modification, `AfterContext` lists unchanged properties too).
fn changed_properties(resource: &aws_sdk_cloudformation::types::ResourceChange) -> Vec<String> {
    let mut names: Vec<String> = resource
        .details()
        .iter()
        .filter_map(|d| d.target())
        .filter(|t| t.attribute().map(|a| a.as_str()) == Some("Properties"))
        .filter_map(|t| t.name().map(str::to_string))
        .collect();
    if resource.action().map(|a| a.as_str()) == Some("Add") {
        names.extend(crate::sensitive::context_properties(
            resource.after_context(),
        ));
    }
    names.sort();
    names.dedup();
    names
}

/// The newest events of a stack (newest first), enough pages to cover its latest operation.
pub async fn recent_events(client: &Client, stack: &str) -> Result<Vec<StackEvent>, TaskError> {
    let mut events = Vec::new();
    let mut next_token: Option<String> = None;
    for _ in 0..MAX_EVENT_PAGES {
        let output = client
            .describe_stack_events()
            .stack_name(stack)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| classify("DescribeStackEvents", &e))?;
        events.extend(output.stack_events().iter().map(|e| {
            StackEvent {
                event_id: e.event_id().unwrap_or_default().to_string(),
                timestamp: e
                    .timestamp()
                    .and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok()),
                logical_resource_id: e.logical_resource_id().unwrap_or_default().to_string(),
                resource_type: e.resource_type().unwrap_or_default().to_string(),
                status: e
                    .resource_status()
                    .map_or_else(String::new, |s| s.as_str().to_string()),
                reason: e.resource_status_reason().map(str::to_string),
            }
        }));
        match output.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => break,
        }
    }
    Ok(events)
}
