//! `/releases`: several stacks planned together and executed in waves (`api::releases`, the
//! release workflow). A release is started only after each stack passed the refusals one
//! deployment gets before anything starts.

use lambda_http::{Body, Request, Response};
use serde_json::{json, Map, Value};

use super::stacks::refuse_plain_secrets;
use super::{accept, caller, idempotency_key, request_id, Deps};
use crate::api::{self, releases, Problem, Workflow};
use crate::aws::sfn;
use crate::http::json_response;

pub(super) async fn create(
    deps: &Deps,
    request: &Request,
    body: Map<String, Value>,
    base: &str,
) -> Result<Response<Body>, Problem> {
    let who = caller(request);
    let name = api::execution_name(
        Workflow::Release,
        idempotency_key(request)?,
        &request_id(request),
        &who,
    );
    let valid = releases::release_request(body, &deps.config, &name, &who, crate::approval::now())?;
    for stack in &valid.release.stacks {
        refuse_plain_secrets(deps, &stack.deployment).await?;
    }
    accept(
        deps,
        Workflow::Release,
        &name,
        &valid.input,
        &format!("{base}/releases/{name}"),
    )
    .await
}

fn view(execution: &Option<sfn::ExecutionState>) -> Option<(&str, Option<&str>)> {
    execution
        .as_ref()
        .map(|e| (e.status.as_str(), e.output.as_deref()))
}

/// The release and each of its stacks, read from the release's execution and each stack's plan
/// and apply executions; another caller's release does not exist for this one.
pub(super) async fn get(deps: &Deps, id: &str, caller: &str) -> Result<Response<Body>, Problem> {
    let missing = || Problem::not_found("no release of that id");
    if api::execution_workflow(id) != Some(Workflow::Release) {
        return Err(missing());
    }
    let machine = deps.machine(Workflow::Release).ok_or_else(missing)?;
    let arn = sfn::execution_arn(machine, id);
    let state = sfn::describe_if_exists(&deps.sfn, &arn)
        .await?
        .filter(|state| api::may_read_execution(state.input.as_deref(), caller))
        .ok_or_else(missing)?;
    let input: Value = state
        .input
        .as_deref()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default();
    let mut stacks = Vec::new();
    let mut plans = Vec::new();
    for stack in input["stacks"].as_array().into_iter().flatten() {
        let read = |field: &str| {
            let name = stack[field].as_str().unwrap_or_default().to_string();
            let arn = sfn::execution_arn(&deps.deploy_machine_arn, &name);
            async move { sfn::describe_if_exists(&deps.sfn, &arn).await }
        };
        let plan = read("planName").await?;
        let apply = read("applyName").await?;
        plans.push((plan.clone(), apply.is_some()));
        let failed = apply
            .as_ref()
            .or(plan.as_ref())
            .filter(|e| e.error.is_some());
        stacks.push(json!({
            "stackName": stack["stackName"],
            // Null: stackgate's own account or Region.
            "account": stack["destination"]["account"],
            "region": stack["destination"]["region"],
            "state": releases::stack_state(&state.status, view(&plan), view(&apply)),
            "planId": stack["planName"],
            "executionId": apply.as_ref().map(|_| stack["applyName"].clone()),
            "error": failed.and_then(|e| e.error.clone()),
            "cause": failed
                .and_then(|e| e.cause.as_deref())
                .map(crate::pipeline::readable_cause),
        }));
    }
    let mut body = json!({
        "releaseId": id,
        "executionArn": arn,
        "release": input["release"],
        "environmentName": input["environmentName"],
        "status": state.status,
        "startDate": state.start_date,
        "stopDate": state.stop_date,
        "waves": input["waves"],
        "stacks": stacks,
    });
    let applied = plans.iter().any(|(_, applied)| *applied);
    let plan_views: Vec<_> = plans.iter().map(|(plan, _)| view(plan)).collect();
    if input["onUnsafe"] == "approve"
        && !applied
        && releases::waits_for_approval(&state.status, &plan_views)
    {
        body["waitingFor"] = json!("approval");
    }
    if let Some(error) = state.error {
        body["error"] = json!(error);
        body["cause"] = json!(state.cause.map(|c| crate::pipeline::readable_cause(&c)));
    }
    Ok(json_response(200, &body))
}
