//! `/stacks`: create or update (through safe deploy), read, delete (through safe delete). Only stacks
//! stackgate made for a managed environment exist here.

use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Map, Value};

use super::{accept, caller, idempotency_key, refuse_busy, request_id, Deps};
use crate::api::{self, Problem, Workflow};
use crate::aws::cloudformation;
use crate::guardrails::is_managed;
use crate::http::json_response;
use crate::root_cause;

pub(super) async fn create(
    deps: &Deps,
    request: &Request,
    body: Map<String, Value>,
    base: &str,
) -> Result<Response<Body>, Problem> {
    if let Some(plan) = api::plans::apply_request(&body)? {
        return super::plans::apply(deps, request, &plan, base).await;
    }
    let who = caller(request);
    let name = api::execution_name(
        Workflow::Deploy,
        idempotency_key(request)?,
        &request_id(request),
        &who,
    );
    let valid = api::create_request(body, &deps.config, &name, &who)?;
    start_deploy(
        deps,
        &who,
        &name,
        &valid,
        &format!("{base}/executions/{name}"),
    )
    .await
}

/// Starts a safe-deploy execution (a deployment, or a plan) for a validated request: stores its
/// inline template, then the refusals that come before anything starts (a secret given as a
/// value, and with `CONCURRENT_DEPLOYMENTS=refuse` a busy stack).
pub(super) async fn start_deploy(
    deps: &Deps,
    who: &str,
    name: &str,
    valid: &api::ValidRequest,
    status_url: &str,
) -> Result<Response<Body>, Problem> {
    let api::ValidRequest {
        input,
        deployment,
        inline,
    } = valid;
    if let Some(template) = inline {
        let s3 = deps
            .s3
            .as_ref()
            .ok_or_else(|| Problem::internal("inline templates are on without an S3 client"))?;
        crate::aws::s3::put_template(s3, &template.bucket, &template.key, &template.body).await?;
    }
    refuse_plain_secrets(deps, deployment).await?;
    refuse_busy(
        deps,
        Workflow::Deploy,
        deployment.stack_name.as_str(),
        name,
        who,
    )
    .await?;
    accept(deps, Workflow::Deploy, name, input, status_url).await
}

/// A parameter the template declares `NoEcho` (or the request calls secret) is refused unless it is
/// a reference, before anything is started: a value in a workflow's input stays in its history.
pub(super) async fn refuse_plain_secrets(
    deps: &Deps,
    deployment: &crate::request::Deployment,
) -> Result<(), Problem> {
    use crate::request::TemplateSource;
    if deployment.parameters.is_empty() {
        return Ok(());
    }
    let url = match &deployment.source {
        TemplateSource::Url { url } => url.clone(),
        TemplateSource::S3Object { bucket, key } => {
            crate::aws::s3::object_url(deps.template_url_base.as_deref(), &deps.region, bucket, key)
        }
        // Refused by create_request: revisions come from CodePipeline.
        TemplateSource::Revision { .. } => return Ok(()),
    };
    let declared =
        cloudformation::declared_parameters(&deps.cloudformation, None, Some(&url)).await?;
    crate::request::check_secret_parameters(deployment, &declared)?;
    Ok(())
}

/// A stack stackgate made for a managed environment, or 404: a stack without stackgate's tags is
/// treated as if it did not exist.
async fn managed_stack(deps: &Deps, name: &str) -> Result<cloudformation::StackSummary, Problem> {
    let environment = api::managed_stack(name, &deps.config)?;
    cloudformation::describe_stack(&deps.cloudformation, name)
        .await?
        .filter(|stack| is_managed(&stack.tags, environment))
        .ok_or_else(|| Problem::not_found("no managed stack of that name"))
}

pub(super) async fn state(deps: &Deps, name: &str) -> Result<Response<Body>, Problem> {
    let stack = managed_stack(deps, name).await?;
    let events = cloudformation::recent_events(&deps.cloudformation, &stack.stack_id).await?;
    let last_failure = root_cause::last_failure(&events, name).map(|c| {
        json!({"logicalResourceId": c.logical_resource_id, "resourceType": c.resource_type,
               "status": c.status, "reason": c.reason})
    });
    Ok(json_response(
        200,
        &json!({
            "stackName": name,
            "stackId": stack.stack_id,
            "status": stack.status,
            "statusReason": stack.status_reason,
            "lastUpdated": stack.last_updated,
            "outputs": stack.outputs,
            "lastFailure": last_failure,
        }),
    ))
}

/// The most events `GET /stacks/{name}/events` answers: a follower reads it every few seconds.
pub const MAX_EVENTS_SHOWN: usize = 100;

/// The stack's most recent events, oldest first, for a follower (the CLI's live progress): each
/// with CloudFormation's id, which tells the follower what it has already shown.
pub(super) async fn events(deps: &Deps, name: &str) -> Result<Response<Body>, Problem> {
    let stack = managed_stack(deps, name).await?;
    let events = cloudformation::recent_events(&deps.cloudformation, &stack.stack_id).await?;
    let shown: Vec<Value> = events
        .iter()
        .take(MAX_EVENTS_SHOWN)
        .rev()
        .map(|e| {
            json!({"eventId": e.event_id, "timestamp": e.timestamp,
                   "logicalResourceId": e.logical_resource_id, "resourceType": e.resource_type,
                   "status": e.status, "reason": e.reason})
        })
        .collect();
    Ok(json_response(
        200,
        &json!({"stackName": name, "stackId": stack.stack_id, "events": shown}),
    ))
}

pub(super) async fn delete(
    deps: &Deps,
    request: &Request,
    name: &str,
    base: &str,
) -> Result<Response<Body>, Problem> {
    let stack = managed_stack(deps, name).await?;
    if stack.parent_id.is_some() {
        return Err(Problem::conflict(format!(
            "stack {name} is nested in another stack; delete that one"
        )));
    }
    if stack.termination_protection {
        return Err(Problem::conflict(format!(
            "stack {name} has termination protection; it is not deleted"
        )));
    }
    if !crate::lifecycle::is_settled(&stack.status) {
        return Err(Problem::conflict(format!(
            "stack {name} is {}; try again when it has finished",
            stack.status
        )));
    }
    let who = caller(request);
    let execution = api::execution_name(
        Workflow::Delete,
        idempotency_key(request)?,
        &request_id(request),
        &who,
    );
    let query = request.query_string_parameters();
    let pairs: Vec<(&str, &str)> = query.iter().collect();
    let input = api::delete_request(&pairs, name, &stack.stack_id, &who)?;
    refuse_busy(deps, Workflow::Delete, name, &execution, &who).await?;
    accept(
        deps,
        Workflow::Delete,
        &execution,
        &input,
        &format!("{base}/executions/{execution}"),
    )
    .await
}
