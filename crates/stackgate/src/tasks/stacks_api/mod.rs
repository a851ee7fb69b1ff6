//! `stacks-api`: the self-service HTTP API (API Gateway, API key required). Creates and updates go
//! through the safe-deploy workflow, deletes through safe-delete; both answer 202 with the execution
//! to follow. Only stacks under a managed environment exist for it.

mod executions;
mod plans;
mod releases;
mod stacks;

use lambda_http::http::header::LOCATION;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};

use crate::api::{self, ApiConfig, Endpoint, Problem, Workflow};
use crate::aws::sfn;
use crate::config::{env_var, required_env};
use crate::http::{self, header, json_response, paths, problem_response};
pub use crate::tasks::stack_lease::Leases;
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
    /// `RELEASE_STATE_MACHINE_ARN`; without it `/releases` is not offered.
    pub release_machine_arn: Option<String>,
    pub config: ApiConfig,
    /// Where S3 objects are read from by URL (`TEMPLATE_URL_BASE`, for S3 endpoints other than
    /// AWS's regional one) and the region of AWS's.
    pub template_url_base: Option<String>,
    pub region: String,
    /// The stack leases (`STACK_LEASES_TABLE`) when the operator refuses a second deployment of a
    /// busy stack (`CONCURRENT_DEPLOYMENTS=refuse`): the API answers 409 before starting anything.
    pub refuse_busy: Option<Leases>,
    /// Where inline templates are stored (the staging bucket's `inline/`), when the operator
    /// allows them (`INLINE_TEMPLATES=on`).
    pub s3: Option<aws_sdk_s3::Client>,
}

const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// With inline templates: CloudFormation's 1,000,000-byte template, as a JSON string (escaped
/// newlines and quotes), and the rest of the request.
const INLINE_MAX_BODY: usize = 2 * 1024 * 1024;

impl Deps {
    pub async fn from_env() -> Result<Self, TaskError> {
        let config = crate::aws::sdk::sdk_config();
        let guardrails = crate::config::guardrails()?;
        let inline = guardrails.inline_bucket.is_some();
        Ok(Deps {
            sfn: aws_sdk_sfn::Client::new(&config),
            cloudformation: aws_sdk_cloudformation::Client::new(&config),
            deploy_machine_arn: required_env("STATE_MACHINE_ARN")?,
            delete_machine_arn: required_env("DELETE_STATE_MACHINE_ARN")?,
            vending_machine_arn: env_var("ACCOUNT_VENDING_STATE_MACHINE_ARN"),
            release_machine_arn: env_var("RELEASE_STATE_MACHINE_ARN"),
            config: ApiConfig {
                guardrails,
                max_body_bytes: env_var("MAX_BODY_BYTES")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(if inline {
                        INLINE_MAX_BODY
                    } else {
                        DEFAULT_MAX_BODY
                    }),
                plan_seconds: plan_seconds(env_var("PLAN_MINUTES").as_deref())?,
                targets: crate::destination::Targets::from_env(),
                home_region: crate::aws::region_of(&config),
            },
            template_url_base: env_var("TEMPLATE_URL_BASE")
                .or_else(|| config.endpoint_url().map(str::to_string)),
            region: crate::aws::region_of(&config),
            refuse_busy: match crate::config::lease_settings()?.mode {
                crate::lease::Mode::Refuse => Some(Leases::from_env(&config)?),
                crate::lease::Mode::Queue => None,
            },
            s3: inline.then(|| aws_sdk_s3::Client::new(&config)),
        })
    }

    /// The state machine of a workflow; none when it is not deployed.
    fn machine(&self, workflow: Workflow) -> Option<&str> {
        match workflow {
            Workflow::Deploy => Some(&self.deploy_machine_arn),
            Workflow::Delete => Some(&self.delete_machine_arn),
            Workflow::Vend => self.vending_machine_arn.as_deref(),
            Workflow::Release => self.release_machine_arn.as_deref(),
        }
    }
}

/// `PLAN_MINUTES`: how long a plan may wait to be applied (1 minute to 7 days; default an hour).
fn plan_seconds(minutes: Option<&str>) -> Result<u64, TaskError> {
    use crate::api::plans::{DEFAULT_PLAN_SECONDS, MAX_PLAN_SECONDS};
    match minutes {
        None => Ok(DEFAULT_PLAN_SECONDS),
        Some(text) => text
            .parse::<u64>()
            .ok()
            .map(|m| m * 60)
            .filter(|s| (60..=MAX_PLAN_SECONDS).contains(s))
            .ok_or_else(|| {
                TaskError::invalid(
                    "PLAN_MINUTES",
                    format!(
                        "must be a whole number of minutes from 1 to {}",
                        MAX_PLAN_SECONDS / 60
                    ),
                )
            }),
    }
}

pub(super) fn idempotency_key(request: &Request) -> Result<Option<&str>, Problem> {
    api::idempotency_key(
        request
            .headers()
            .get("idempotency-key")
            .map(|v| v.as_bytes()),
    )
}

/// Who is asking, as API Gateway established it: the IAM principal when the API uses IAM auth,
/// else the API key's id. Never read from the request body or a header the caller writes.
pub(super) fn caller(request: &Request) -> String {
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
        http::json_object(
            header(request, "content-type"),
            request.body().as_ref(),
            deps.config.max_body_bytes,
        )
    };
    match endpoint {
        Endpoint::CreateStack => stacks::create(deps, request, body()?, base).await,
        Endpoint::CompatCreate => {
            let converted = api::compat_create_body(body()?, &deps.config)?;
            stacks::create(deps, request, converted, base).await
        }
        Endpoint::GetStack(name) | Endpoint::CompatState(name) => stacks::state(deps, &name).await,
        Endpoint::GetStackEvents(name) => stacks::events(deps, &name).await,
        Endpoint::GetExecution(id) => executions::get(deps, &id, &caller(request)).await,
        Endpoint::CreatePlan => plans::create(deps, request, body()?, base).await,
        Endpoint::GetPlan(id) => plans::get(deps, &id, &caller(request), base).await,
        Endpoint::CreateRelease => releases::create(deps, request, body()?, base).await,
        Endpoint::GetRelease(id) => releases::get(deps, &id, &caller(request)).await,
        Endpoint::DeleteStack(name) => stacks::delete(deps, request, &name, base).await,
        Endpoint::CompatDelete => {
            let name = api::compat_name(&body()?)?;
            stacks::delete(deps, request, &name, base).await
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
            accept(
                deps,
                Workflow::Vend,
                &name,
                &input,
                &format!("{base}/executions/{name}"),
            )
            .await
        }
    }
}

pub(super) fn request_id(request: &Request) -> String {
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

/// With `CONCURRENT_DEPLOYMENTS=refuse`: 409, unless the execution working on the stack is the one
/// this request starts (a replay). The 409 names that execution only to the caller who started it
/// (as `GET /executions/{id}` would). Two requests that both pass here race in the workflow, where
/// the lease's conditional write lets one through and fails the other (`StackBusy`).
pub(super) async fn refuse_busy(
    deps: &Deps,
    workflow: Workflow,
    stack: &str,
    execution_name: &str,
    caller: &str,
) -> Result<(), Problem> {
    let Some(leases) = &deps.refuse_busy else {
        return Ok(());
    };
    let Some(holder) = leases.running_holder(stack).await? else {
        return Ok(());
    };
    let own = deps
        .machine(workflow)
        .map(|machine| sfn::execution_arn(machine, execution_name));
    if own.as_deref() == Some(holder.execution_arn.as_str()) {
        return Ok(());
    }
    if !api::may_read_execution(holder.input.as_deref(), caller) {
        return Err(Problem::conflict(format!(
            "stack {stack} is being deployed or deleted by another execution; try again when it has finished"
        )));
    }
    Err(Problem::conflict(format!(
        "stack {stack} is being deployed or deleted by your execution {}; try again when it has finished",
        holder.execution_arn
    ))
    .with_execution(holder.execution_arn))
}

/// Starts an execution for the request (idempotently by name) and answers 202 with where to follow
/// it (`status_url`).
pub(super) async fn accept(
    deps: &Deps,
    workflow: Workflow,
    name: &str,
    input: &Value,
    status_url: &str,
) -> Result<Response<Body>, Problem> {
    let kind = workflow.name();
    let machine = deps
        .machine(workflow)
        .ok_or_else(|| Problem::not_found(format!("the {kind} workflow is not deployed")))?;
    let input_text = input.to_string();
    let started = sfn::start(&deps.sfn, machine, name, &input_text)
        .await
        .map_err(|e| Problem::unavailable(format!("the {kind} workflow was not started: {e}")))?;
    // What the execution was started with: this request's input, or a replay's original.
    let mut started_with = input.clone();
    if started.already_existed {
        // A replay with the same Idempotency-Key: the same request gets the same execution,
        // a different request under a reused key is refused.
        let existing = sfn::describe_if_exists(&deps.sfn, &started.execution_arn)
            .await
            .map_err(|e| {
                Problem::unavailable(format!("could not read the existing execution: {e}"))
            })?
            .and_then(|e| e.input)
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .filter(|existing| api::plans::same_request(existing, input));
        match existing {
            Some(existing) => started_with = existing,
            None => {
                return Err(Problem::conflict(
                    "this Idempotency-Key was already used for a different request",
                )
                .with_field("Idempotency-Key"))
            }
        }
    }
    tracing::info!(execution_arn = %started.execution_arn, replay = started.already_existed, "workflow accepted");
    let mut body = json!({"executionId": name, "executionArn": started.execution_arn, "statusUrl": status_url});
    if api::plans::is_plan(&started_with) {
        body["planId"] = json!(name);
        body["expiresAt"] = started_with["planExpiresAt"].clone();
    }
    let mut response = json_response(202, &body);
    if let Ok(location) = status_url.parse() {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}
