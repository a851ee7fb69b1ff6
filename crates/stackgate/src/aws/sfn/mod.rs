//! Step Functions adapter: starting a workflow idempotently and reading how it went.

use aws_sdk_sfn::Client;
use serde_json::Value;

use super::classify;
use crate::TaskError;

mod tasks;
pub use tasks::*;

/// The ARN of execution `name` of a state machine (what StartExecution would have returned).
pub fn execution_arn(state_machine_arn: &str, name: &str) -> String {
    format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    )
}

/// An execution started, or found already there under the same name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub execution_arn: String,
    pub already_existed: bool,
}

/// Starts an execution; one of the same name that already exists (a retried call) is that execution.
pub async fn start_execution(
    client: &Client,
    state_machine_arn: &str,
    name: &str,
    input: &str,
) -> Result<String, TaskError> {
    start(client, state_machine_arn, name, input)
        .await
        .map(|s| s.execution_arn)
}

/// Like `start_execution`, saying whether the execution already existed.
pub async fn start(
    client: &Client,
    state_machine_arn: &str,
    name: &str,
    input: &str,
) -> Result<Started, TaskError> {
    match client
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(name)
        .input(input)
        .send()
        .await
    {
        Ok(started) => Ok(Started {
            execution_arn: started.execution_arn().to_string(),
            already_existed: false,
        }),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_execution_already_exists()) =>
        {
            Ok(Started {
                execution_arn: execution_arn(state_machine_arn, name),
                already_existed: true,
            })
        }
        Err(error) => Err(classify("StartExecution", &error)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionState {
    pub status: String,
    pub input: Option<String>,
    pub start_date: Option<String>,
    pub stop_date: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub output: Option<String>,
}

pub async fn describe_execution(
    client: &Client,
    execution_arn: &str,
) -> Result<ExecutionState, TaskError> {
    describe_if_exists(client, execution_arn)
        .await?
        .ok_or_else(|| TaskError::Aws {
            operation: "DescribeExecution".into(),
            message: format!("execution {execution_arn} does not exist"),
        })
}

/// DescribeExecution; `None` for an execution that does not exist.
pub async fn describe_if_exists(
    client: &Client,
    execution_arn: &str,
) -> Result<Option<ExecutionState>, TaskError> {
    let described = match client
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
    {
        Ok(described) => described,
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_execution_does_not_exist()) =>
        {
            return Ok(None)
        }
        Err(error) => return Err(classify("DescribeExecution", &error)),
    };
    let time = |t: Option<&aws_sdk_sfn::primitives::DateTime>| {
        t.and_then(|t| {
            t.fmt(aws_sdk_sfn::primitives::DateTimeFormat::DateTime)
                .ok()
        })
    };
    Ok(Some(ExecutionState {
        status: described.status().as_str().to_string(),
        input: described.input().map(str::to_string),
        start_date: time(Some(described.start_date())),
        stop_date: time(described.stop_date()),
        error: described.error().map(str::to_string),
        cause: described.cause().map(str::to_string),
        output: described.output().map(str::to_string),
    }))
}

/// Events read at most from one execution's history.
const MAX_HISTORY_EVENTS: usize = 2000;

/// Reads an execution's history a page at a time, oldest or newest event first, handing each
/// event to `visit` until it answers (at most `MAX_HISTORY_EVENTS` events); `None`: it never did.
pub async fn read_history<T>(
    client: &Client,
    execution_arn: &str,
    newest_first: bool,
    mut visit: impl FnMut(&aws_sdk_sfn::types::HistoryEvent) -> Option<T>,
) -> Result<Option<T>, TaskError> {
    let mut read = 0;
    let mut token: Option<String> = None;
    loop {
        let page = client
            .get_execution_history()
            .execution_arn(execution_arn)
            .reverse_order(newest_first)
            .max_results(500)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| classify("GetExecutionHistory", &e))?;
        read += page.events().len();
        if let Some(found) = page.events().iter().find_map(&mut visit) {
            return Ok(Some(found));
        }
        match page.next_token() {
            Some(next) if read < MAX_HISTORY_EVENTS => token = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
}

/// Whether the execution still runs and, among its most recent events, scheduled a Lambda task
/// with exactly `payload`: what a function that acts for a workflow's state may act on.
pub async fn scheduled(
    client: &Client,
    execution_arn: &str,
    payload: &serde_json::Value,
) -> Result<bool, TaskError> {
    use aws_sdk_sfn::types::HistoryEventType as Event;
    let found = read_history(client, execution_arn, true, |event| {
        let ended = matches!(
            event.r#type(),
            Event::ExecutionSucceeded
                | Event::ExecutionFailed
                | Event::ExecutionAborted
                | Event::ExecutionTimedOut
        );
        if ended {
            return Some(false);
        }
        let parameters = event.task_scheduled_event_details()?.parameters();
        let asked = serde_json::from_str::<serde_json::Value>(parameters).ok()?;
        (asked.get("Payload") == Some(payload)).then_some(true)
    })
    .await?;
    Ok(found.unwrap_or(false))
}

/// The states an execution entered, in order.
pub async fn states_entered(
    client: &Client,
    execution_arn: &str,
) -> Result<Vec<String>, TaskError> {
    let mut states = Vec::new();
    read_history(client, execution_arn, false, |event| {
        if let Some(entered) = event.state_entered_event_details() {
            states.push(entered.name().to_string());
        }
        None::<()>
    })
    .await?;
    Ok(states)
}

/// The output of the last time an execution left `state`, parsed; `None` when it has not left it
/// (yet).
pub async fn last_state_output(
    client: &Client,
    execution_arn: &str,
    state: &str,
) -> Result<Option<Value>, TaskError> {
    let exited = read_history(client, execution_arn, true, |event| {
        event
            .state_exited_event_details()
            .filter(|exited| exited.name() == state)
            .map(|exited| {
                exited
                    .output()
                    .and_then(|text| serde_json::from_str(text).ok())
            })
    })
    .await?;
    Ok(exited.flatten())
}

/// Stops an execution with an error and cause of ours; one that has ended already is left as it is.
pub async fn stop(
    client: &Client,
    execution_arn: &str,
    error: &str,
    cause: &str,
) -> Result<(), TaskError> {
    match client
        .stop_execution()
        .execution_arn(execution_arn)
        .error(error)
        .cause(cause)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_execution_does_not_exist()) =>
        {
            Ok(())
        }
        Err(e) => Err(classify("StopExecution", &e)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn execution_arn_from_state_machine_arn() {
        assert_eq!(
            super::execution_arn(
                "arn:aws:states:us-east-1:1:stateMachine:SafeDeploy",
                "pipeline-j"
            ),
            "arn:aws:states:us-east-1:1:execution:SafeDeploy:pipeline-j"
        );
    }
}
