//! Following an execution: its states as it enters them, until it ends or waits for a person. The
//! deployment runs in Step Functions either way: stopping the CLI stops only the following.

use std::time::Duration;

use serde_json::Value;

use crate::client::{Api, CliError};
use crate::outcome::waits_for_people;
use crate::render::Printer;

/// How often the execution is read (`STACKGATE_FOLLOW_MS`, for tests; default 1 s).
fn interval() -> Duration {
    std::env::var("STACKGATE_FOLLOW_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

/// The states an execution entered, in order.
pub fn states(execution: &Value) -> Vec<String> {
    execution["states"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Reads the execution until it ends or waits for a person, printing each state once; returns it
/// as last read.
pub async fn execution(api: &Api, id: &str, printer: &Printer) -> Result<Value, CliError> {
    let mut shown = 0;
    loop {
        let reply = api
            .send(hyper::Method::GET, &format!("/executions/{id}"), None, None)
            .await?
            .ok()?;
        let entered = states(&reply.body);
        printer.states(&entered, shown);
        shown = shown.max(entered.len());
        if reply.body["status"] != "RUNNING" || waits_for_people(&reply.body) {
            return Ok(reply.body);
        }
        tokio::time::sleep(interval()).await;
    }
}
