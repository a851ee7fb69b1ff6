//! `/plans`: plan, then apply (`api::plans`). A plan is a safe-deploy execution that stops short of
//! executing; applying it starts the execution that executes exactly its change set.

use lambda_http::{Body, Request, Response};
use serde_json::{Map, Value};

use super::stacks::start_deploy;
use super::{accept, caller, idempotency_key, refuse_busy, request_id, Deps};
use crate::api::plans::{self, PlanStatus, PlanView};
use crate::api::{self, Problem, Workflow};
use crate::aws::sfn;
use crate::http::json_response;

/// The plan step's state, whose output holds the judged change set (`$.plan`).
const PLAN_STATE: &str = "PlanChangeSet";

pub(super) async fn create(
    deps: &Deps,
    request: &Request,
    body: Map<String, Value>,
    base: &str,
) -> Result<Response<Body>, Problem> {
    let who = caller(request);
    let name = plans::plan_execution_name(idempotency_key(request)?, &request_id(request), &who);
    let valid = plans::plan_request(body, &deps.config, &name, &who, crate::approval::now())?;
    start_deploy(deps, &who, &name, &valid, &format!("{base}/plans/{name}")).await
}

/// A plan of this caller's, as its execution stands: status, input (the request) and error.
struct Found {
    arn: String,
    state: sfn::ExecutionState,
    input: Value,
}

/// The plan `id` if it is one and the caller's; anything else does not exist for this caller.
async fn find(deps: &Deps, id: &str, caller: &str) -> Result<Found, Problem> {
    let missing = || Problem::not_found("no plan of that id");
    if !crate::request::is_plan_id(id) {
        return Err(missing());
    }
    let arn = sfn::execution_arn(&deps.deploy_machine_arn, id);
    let state = sfn::describe_if_exists(&deps.sfn, &arn)
        .await?
        .filter(|state| api::may_read_execution(state.input.as_deref(), caller))
        .ok_or_else(missing)?;
    let input = state
        .input
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .filter(plans::is_plan)
        .ok_or_else(missing)?;
    Ok(Found { arn, state, input })
}

/// The plan step's result (`$.plan`), once the plan has one.
async fn judged(deps: &Deps, found: &Found) -> Result<Option<Value>, Problem> {
    Ok(sfn::last_state_output(&deps.sfn, &found.arn, PLAN_STATE)
        .await?
        .and_then(|mut state| state.get_mut("plan").map(Value::take))
        .filter(Value::is_object))
}

/// The plan's status; a stopped plan is `APPLIED` when the execution applying it exists (Step
/// Functions' DescribeExecution does not always carry a stop's error).
async fn status_of(
    deps: &Deps,
    found: &Found,
    plan: Option<&Value>,
    applying: &str,
) -> Result<PlanStatus, Problem> {
    let output = found
        .state
        .output
        .as_deref()
        .and_then(|text| serde_json::from_str::<Value>(text).ok());
    let applied = found.state.status == "ABORTED"
        && sfn::describe_if_exists(
            &deps.sfn,
            &sfn::execution_arn(&deps.deploy_machine_arn, applying),
        )
        .await?
        .is_some();
    Ok(PlanStatus::of(
        &found.state.status,
        output.as_ref(),
        found.state.error.as_deref(),
        plan,
        applied,
    ))
}

pub(super) async fn get(
    deps: &Deps,
    id: &str,
    caller: &str,
    base: &str,
) -> Result<Response<Body>, Problem> {
    let found = find(deps, id, caller).await?;
    let plan = judged(deps, &found).await?;
    let applied_by = plans::apply_execution_name(id, caller);
    let status = status_of(deps, &found, plan.as_ref(), &applied_by).await?;
    let view = PlanView {
        plan_id: id,
        status,
        input: &found.input,
        plan: plan.as_ref(),
        error: found
            .state
            .error
            .as_deref()
            .filter(|_| status != PlanStatus::Applied),
        cause: found
            .state
            .cause
            .as_deref()
            .map(crate::pipeline::readable_cause),
        applied_by: (status == PlanStatus::Applied).then_some(applied_by.as_str()),
        base,
    };
    Ok(json_response(200, &view.body()))
}

/// `POST /stacks {"planId"}`: starts the execution that applies the plan (one per plan: a retry
/// finds it), then stops the plan's own, which would otherwise delete the change set when the
/// plan expires.
pub(super) async fn apply(
    deps: &Deps,
    request: &Request,
    plan_id: &str,
    base: &str,
) -> Result<Response<Body>, Problem> {
    let who = caller(request);
    let found = find(deps, plan_id, &who).await?;
    let plan = judged(deps, &found).await?;
    let name = plans::apply_execution_name(plan_id, &who);
    let status = status_of(deps, &found, plan.as_ref(), &name).await?;
    let input = plans::applying_input(&found.input, plan_id);
    let conflict =
        |why: &str| Problem::conflict(format!("plan {plan_id} {why}")).with_field("planId");
    match status {
        PlanStatus::Ready => {}
        // A retry whose first answer was lost: the same execution again.
        PlanStatus::Applied => {
            return accept(
                deps,
                Workflow::Deploy,
                &name,
                &input,
                &format!("{base}/executions/{name}"),
            )
            .await
        }
        PlanStatus::Planning => {
            return Err(conflict(
                "is still being made; apply it when GET /plans/{id} says READY",
            ))
        }
        PlanStatus::NoChanges => return Err(conflict("has no changes to apply")),
        PlanStatus::Refused => return Err(conflict("was refused; it holds nothing to apply")),
        PlanStatus::Expired => return Err(conflict("has expired; plan again")),
        PlanStatus::Failed => return Err(conflict("failed; plan again")),
    }
    let expires_at = found.input["planExpiresAt"].as_str().unwrap_or_default();
    if !plans::still_valid(expires_at, crate::approval::now()) {
        return Err(conflict("has expired; plan again"));
    }
    let stack = plan
        .as_ref()
        .and_then(|p| p["check"]["deployment"]["stackName"].as_str())
        .unwrap_or_default()
        .to_string();
    refuse_busy(deps, Workflow::Deploy, &stack, &name, &who).await?;
    let response = accept(
        deps,
        Workflow::Deploy,
        &name,
        &input,
        &format!("{base}/executions/{name}"),
    )
    .await?;
    sfn::stop(
        &deps.sfn,
        &found.arn,
        plans::APPLIED_ERROR,
        &format!("applied by execution {name}"),
    )
    .await
    .map_err(|e| Problem::unavailable(format!("the plan was applied by execution {name}, but could not be marked applied ({e}); send the same request again")))?;
    Ok(response)
}
