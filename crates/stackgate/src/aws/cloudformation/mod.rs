//! CloudFormation adapter: the calls stackgate makes, with pagination and error mapping. Longer
//! than the other adapters because stackgate makes most of its calls here; one module per service
//! keeps every CloudFormation call (and its fault-matrix row) in one place.

mod change_sets;
mod drift;
mod resource_change;
pub use change_sets::{
    all_changes, change_set, create_change_set, delete_change_set, execute_change_set,
    ChangeSetRequest, ChangeSetStatus,
};
pub use drift::{drift_detection_status, drifted_resources, start_drift_detection, DetectionState};

use std::collections::BTreeMap;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::TemplateStage;
use aws_sdk_cloudformation::Client;

use super::{classify, is_stack_missing};
use crate::root_cause::StackEvent;
use crate::TaskError;

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
    template_at(client, stack, change_set, TemplateStage::Processed).await
}

/// A change set's template as it was submitted (`Original`: before transforms, so that what a
/// transform such as `AWS::Include` reads is still named): by name with its stack, or by ARN alone
/// (a nested stack's).
pub async fn submitted_template(
    client: &Client,
    stack: Option<&str>,
    change_set: &str,
) -> Result<Option<String>, TaskError> {
    template_at(client, stack, Some(change_set), TemplateStage::Original).await
}

async fn template_at(
    client: &Client,
    stack: Option<&str>,
    change_set: Option<&str>,
    stage: TemplateStage,
) -> Result<Option<String>, TaskError> {
    match client
        .get_template()
        .set_stack_name(stack.map(str::to_string))
        .set_change_set_name(change_set.map(str::to_string))
        .template_stage(stage)
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
/// Deletes a stack; the token makes a retry the same deletion (CloudFormation answers a deletion
/// of a stack already gone with success).
pub async fn delete_stack(client: &Client, stack: &str, token: &str) -> Result<(), TaskError> {
    client
        .delete_stack()
        .stack_name(stack)
        .client_request_token(token)
        .send()
        .await
        .map_err(|e| classify("DeleteStack", &e))?;
    Ok(())
}

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
