//! Plan, then apply: `POST /plans`, read until judged, and `POST /stacks {"planId"}`.

use serde_json::{json, Value};

use crate::client::{Api, CliError};
use crate::outcome::Exit;
use crate::render::Printer;

/// Asks for a plan and reads it until it is judged (or refused, or failed).
pub async fn make(
    api: &Api,
    body: &Value,
    key: &str,
    printer: &Printer,
) -> Result<Value, CliError> {
    let reply = api
        .send(hyper::Method::POST, "/plans", Some(body), Some(key))
        .await?
        .ok()?;
    let id = reply.body["planId"]
        .as_str()
        .filter(|id| crate::args::checked_execution(id).is_ok())
        .ok_or_else(|| CliError::Transport("the API accepted the plan but named none".into()))?
        .to_string();
    printer.note(&format!("planning: {id}"));
    loop {
        let plan = read(api, &id).await?;
        if plan["status"] != "PLANNING" {
            return Ok(plan);
        }
        tokio::time::sleep(crate::follow::interval()).await;
    }
}

/// `GET /plans/{id}`.
pub async fn read(api: &Api, id: &str) -> Result<Value, CliError> {
    Ok(api
        .send(hyper::Method::GET, &format!("/plans/{id}"), None, None)
        .await?
        .ok()?
        .body)
}

/// Applies a plan and follows the execution that executes it; with `plan`, the judged plan goes
/// into the `--json` document too.
pub async fn apply(
    api: &Api,
    id: &str,
    stack: &str,
    plan: Option<Value>,
    printer: &Printer,
) -> Result<Exit, CliError> {
    let reply = api
        .send(
            hyper::Method::POST,
            "/stacks",
            Some(&json!({"planId": id})),
            None,
        )
        .await?;
    let execution_id = reply.accepted_execution()?;
    printer.started("applying", stack, &execution_id);
    let mut execution = crate::follow::execution(api, &execution_id, printer, Some(stack)).await?;
    if let Some(plan) = plan {
        execution["plan"] = plan;
    }
    Ok(printer.finished(&execution))
}

/// `POST /stacks` with the request itself: for a stack whose first create failed, which the
/// deployment deletes and creates again (a plan cannot show that). Asked first on a terminal.
pub async fn deploy_without_plan(
    api: &Api,
    mut body: Value,
    stack: &str,
    yes: bool,
    printer: &Printer,
) -> Result<Exit, CliError> {
    use std::io::IsTerminal;
    if let Value::Object(fields) = &mut body {
        fields.remove("expiresInSeconds");
    }
    printer.note(&format!(
        "{stack} cannot be updated (its first create failed, or a plan of it expired unapplied): deploying deletes it and creates it again, without a plan"
    ));
    if !yes && std::io::stdin().is_terminal() && !printer.ask(&format!("Deploy {stack} again?")) {
        printer.note("nothing was deployed");
        return Ok(Exit::Failed);
    }
    let key = crate::request::fresh_idempotency_key();
    let reply = api
        .send(hyper::Method::POST, "/stacks", Some(&body), Some(&key))
        .await?;
    let id = reply.accepted_execution()?;
    printer.started("deploying", stack, &id);
    let execution = crate::follow::execution(api, &id, printer, Some(stack)).await?;
    Ok(printer.finished(&execution))
}
