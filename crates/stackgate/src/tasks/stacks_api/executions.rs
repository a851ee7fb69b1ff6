//! `/executions/{id}`: how a started workflow is doing, for the caller who started it.

use lambda_http::{Body, Response};
use serde_json::{json, Value};

use super::Deps;
use crate::api::{self, Problem};
use crate::aws::sfn;
use crate::http::json_response;

pub(super) async fn get(deps: &Deps, id: &str, caller: &str) -> Result<Response<Body>, Problem> {
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
