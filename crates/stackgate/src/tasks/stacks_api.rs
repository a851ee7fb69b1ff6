//! `stacks-api`: the self-service HTTP API (API Gateway, API key required). Creates and updates go
//! through the safe-deploy workflow, deletes through safe-delete; both answer 202 with the execution
//! to follow. Only stacks under a managed environment exist for it.

use lambda_http::http::header::{HeaderValue, CONTENT_TYPE, LOCATION};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Map, Value};

use crate::api::{self, ApiConfig, Endpoint, Problem, Workflow};
use crate::aws::{cloudformation, sfn};
use crate::config::{env_var, required_env};
use crate::guardrails::is_managed;
use crate::root_cause;
use crate::TaskError;

/// What the API needs, read once per process.
#[derive(Debug, Clone)]
pub struct Deps {
    pub sfn: aws_sdk_sfn::Client,
    pub cloudformation: aws_sdk_cloudformation::Client,
    /// `STATE_MACHINE_ARN`
    pub deploy_machine_arn: String,
    /// `DELETE_STATE_MACHINE_ARN`
    pub delete_machine_arn: String,
    /// `ACCOUNT_VENDING_STATE_MACHINE_ARN`; without it `POST /accounts` is not offered.
    pub vending_machine_arn: Option<String>,
    pub config: ApiConfig,
    /// Where S3 objects are read from by URL (`TEMPLATE_URL_BASE`, for S3 endpoints other than
    /// AWS's regional one) and the region of AWS's.
    pub template_url_base: Option<String>,
    pub region: String,
}

const DEFAULT_MAX_BODY: usize = 64 * 1024;

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        let config = crate::aws::sdk::sdk_config();
        Ok(Deps {
            sfn: aws_sdk_sfn::Client::new(&config),
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            deploy_machine_arn: required_env("STATE_MACHINE_ARN")?,
            delete_machine_arn: required_env("DELETE_STATE_MACHINE_ARN")?,
            vending_machine_arn: env_var("ACCOUNT_VENDING_STATE_MACHINE_ARN"),
            config: ApiConfig {
                guardrails: crate::config::guardrails()?,
                max_body_bytes: env_var("MAX_BODY_BYTES")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(DEFAULT_MAX_BODY),
            },
            template_url_base: env_var("TEMPLATE_URL_BASE")
                .or_else(|| config.endpoint_url().map(str::to_string)),
            region: crate::aws::region_of(&config),
        })
    }

    /// The state machine of a workflow; none when it is not deployed.
    fn machine(&self, workflow: Workflow) -> Option<&str> {
        match workflow {
            Workflow::Deploy => Some(&self.deploy_machine_arn),
            Workflow::Delete => Some(&self.delete_machine_arn),
            Workflow::Vend => self.vending_machine_arn.as_deref(),
        }
    }
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = lambda_http::http::StatusCode::from_u16(status).unwrap_or_default();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

pub fn problem_response(problem: &Problem) -> Response<Body> {
    let body = serde_json::to_value(problem).unwrap_or_else(|_| json!({"status": problem.status}));
    let mut response = json_response(problem.status, &body);
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(api::PROBLEM_CONTENT_TYPE),
    );
    if let Some(allow) = problem.allow.and_then(|a| a.parse().ok()) {
        response.headers_mut().insert("allow", allow);
    }
    response
}

/// The request's path under the API (no stage) and the prefix to build URLs with (the stage).
fn paths(request: &Request) -> (String, String) {
    let raw = request.raw_http_path();
    let raw = if raw.is_empty() {
        request.uri().path()
    } else {
        raw
    }
    .to_string();
    let full = request.uri().path();
    let base = full
        .strip_suffix(raw.as_str())
        .unwrap_or_default()
        .to_string();
    (raw, base)
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

fn idempotency_key(request: &Request) -> Result<Option<&str>, Problem> {
    api::idempotency_key(
        request
            .headers()
            .get("idempotency-key")
            .map(|v| v.as_bytes()),
    )
}

/// Who is asking, as API Gateway established it: the IAM principal when the API uses IAM auth,
/// else the API key's id. Never read from the request body or a header the caller writes.
fn caller(request: &Request) -> String {
    use lambda_http::request::RequestContext;
    let identity = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.identity.user_arn.clone().or_else(|| {
            c.identity
                .api_key_id
                .as_ref()
                .map(|k| format!("apiKey:{k}"))
        }),
        Some(RequestContext::ApiGatewayV2(c)) => c
            .authorizer
            .as_ref()
            .and_then(|a| a.iam.as_ref())
            .and_then(|iam| iam.user_arn.clone()),
        _ => None,
    };
    identity
        .filter(|who| !who.is_empty())
        .unwrap_or_else(|| "anonymous".to_string())
}

pub async fn handle(
    deps: &Deps,
    request: Request,
) -> Result<Response<Body>, std::convert::Infallible> {
    let (path, base) = paths(&request);
    let method = request.method().as_str().to_string();
    let result = match api::route(&method, &path) {
        Ok(endpoint) => dispatch(deps, &request, endpoint, &base).await,
        Err(problem) => Err(problem),
    };
    let response = result.unwrap_or_else(|problem| {
        if problem.status >= 500 {
            tracing::error!(status = problem.status, detail = %problem.detail, "request failed");
        }
        problem_response(&problem)
    });
    tracing::info!(%method, %path, status = response.status().as_u16(), "request answered");
    Ok(response)
}

async fn dispatch(
    deps: &Deps,
    request: &Request,
    endpoint: Endpoint,
    base: &str,
) -> Result<Response<Body>, Problem> {
    let body = || {
        api::parse_body(
            header(request, "content-type"),
            request.body().as_ref(),
            &deps.config,
        )
    };
    match endpoint {
        Endpoint::CreateStack => create(deps, request, body()?, base).await,
        Endpoint::LegacyCreate => {
            let converted = api::legacy_create_body(body()?, &deps.config)?;
            create(deps, request, converted, base).await
        }
        Endpoint::GetStack(name) | Endpoint::LegacyState(name) => stack_state(deps, &name).await,
        Endpoint::GetExecution(id) => execution(deps, &id, &caller(request)).await,
        Endpoint::DeleteStack(name) => delete(deps, request, &name, base).await,
        Endpoint::LegacyDelete => {
            let name = api::legacy_name(&body()?)?;
            delete(deps, request, &name, base).await
        }
        Endpoint::CreateAccount => {
            let who = caller(request);
            let name = api::execution_name(
                Workflow::Vend,
                idempotency_key(request)?,
                &request_id(request),
                &who,
            );
            let input = api::account_request(body()?, &deps.config, &who)?;
            accept(deps, Workflow::Vend, &name, &input, base).await
        }
    }
}

fn request_id(request: &Request) -> String {
    request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("{}-{}", now.as_nanos(), std::process::id())
        })
}

/// Starts an execution for the request (idempotently by name) and answers 202.
async fn accept(
    deps: &Deps,
    workflow: Workflow,
    name: &str,
    input: &Value,
    base: &str,
) -> Result<Response<Body>, Problem> {
    let kind = workflow.name();
    let machine = deps
        .machine(workflow)
        .ok_or_else(|| Problem::not_found(format!("the {kind} workflow is not deployed")))?;
    let input_text = input.to_string();
    let started = sfn::start(&deps.sfn, machine, name, &input_text)
        .await
        .map_err(|e| Problem::unavailable(format!("the {kind} workflow was not started: {e}")))?;
    if started.already_existed {
        // A replay with the same Idempotency-Key: the same request gets the same execution,
        // a different request under a reused key is refused.
        let existing = sfn::describe_if_exists(&deps.sfn, &started.execution_arn)
            .await
            .map_err(|e| {
                Problem::unavailable(format!("could not read the existing execution: {e}"))
            })?;
        let same = existing
            .and_then(|e| e.input)
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .is_some_and(|existing| &existing == input);
        if !same {
            return Err(Problem::conflict(
                "this Idempotency-Key was already used for a different request",
            )
            .with_field("Idempotency-Key"));
        }
    }
    tracing::info!(execution_arn = %started.execution_arn, replay = started.already_existed, "workflow accepted");
    let status_url = format!("{base}/executions/{name}");
    let mut response = json_response(
        202,
        &json!({"executionId": name, "executionArn": started.execution_arn, "statusUrl": status_url}),
    );
    if let Ok(location) = status_url.parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

async fn create(
    deps: &Deps,
    request: &Request,
    body: Map<String, Value>,
    base: &str,
) -> Result<Response<Body>, Problem> {
    let who = caller(request);
    let name = api::execution_name(
        Workflow::Deploy,
        idempotency_key(request)?,
        &request_id(request),
        &who,
    );
    let (input, deployment) = api::create_request(body, &deps.config, &name, &who)?;
    refuse_plain_secrets(deps, &deployment).await?;
    accept(deps, Workflow::Deploy, &name, &input, base).await
}

/// A parameter the template declares `NoEcho` (or the request calls secret) is refused unless it is
/// a reference, before anything is started: a value in a workflow's input stays in its history.
async fn refuse_plain_secrets(
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

async fn stack_state(deps: &Deps, name: &str) -> Result<Response<Body>, Problem> {
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

async fn delete(
    deps: &Deps,
    request: &Request,
    name: &str,
    base: &str,
) -> Result<Response<Body>, Problem> {
    let stack = managed_stack(deps, name).await?;
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
    let input = json!({"stackName": name, "stackId": stack.stack_id, "requestedBy": who});
    accept(deps, Workflow::Delete, &execution, &input, base).await
}

async fn execution(deps: &Deps, id: &str, caller: &str) -> Result<Response<Body>, Problem> {
    let workflow =
        api::execution_workflow(id).ok_or_else(|| Problem::not_found("no execution of that id"))?;
    let kind = workflow.name();
    let machine = deps
        .machine(workflow)
        .ok_or_else(|| Problem::not_found("no execution of that id"))?;
    let arn = sfn::execution_arn(machine, id);
    // Another caller's execution does not exist for this one.
    let state = sfn::describe_if_exists(&deps.sfn, &arn)
        .await?
        .filter(|state| api::may_read_execution(state.input.as_deref(), caller))
        .ok_or_else(|| Problem::not_found("no execution of that id"))?;
    let states = sfn::states_entered(&deps.sfn, &arn).await?;
    let mut body = json!({
        "executionId": id,
        "executionArn": arn,
        "workflow": kind,
        "status": state.status,
        "startDate": state.start_date,
        "stopDate": state.stop_date,
        "states": states,
    });
    if let Some(output) = state
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str::<Value>(o).ok())
    {
        body["output"] = output;
    }
    if let Some(error) = state.error {
        body["error"] = json!(error);
        body["cause"] = json!(state.cause.map(|c| crate::pipeline::readable_cause(&c)));
    }
    Ok(json_response(200, &body))
}
