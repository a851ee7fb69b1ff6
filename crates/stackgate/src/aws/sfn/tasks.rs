//! Step Functions' waiting tasks: answering a task token (and finding out whether the answer
//! arrived when the reply was lost), and the activity workers' polling and heartbeats.

use aws_sdk_sfn::Client;

use crate::aws::classify;
use crate::TaskError;

/// A SendTask* result: a task that is gone (timed out, ended, or an invalid token) is an answer,
/// not an error.
macro_rules! delivery {
    ($result:expr, $operation:literal) => {
        match $result {
            Ok(_) => Ok(Delivery::Delivered),
            Err(error)
                if error.as_service_error().is_some_and(|e| {
                    e.is_task_timed_out() || e.is_task_does_not_exist() || e.is_invalid_token()
                }) =>
            {
                Ok(Delivery::TaskGone)
            }
            Err(error) => Err(classify($operation, &error)),
        }
    };
}

/// Whether a task-token answer reached a waiting task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// The task is gone: timed out, its execution ended, or the token is no longer valid.
    TaskGone,
}

/// What a waiting task is told: it succeeded with this output, or failed with this error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskAnswer {
    Success { output: String },
    Failure { error: String, cause: String },
}

/// SendTaskSuccess or SendTaskFailure, as the answer says.
pub async fn send_answer(
    client: &Client,
    task_token: &str,
    answer: &TaskAnswer,
) -> Result<Delivery, TaskError> {
    match answer {
        TaskAnswer::Success { output } => {
            let result = client
                .send_task_success()
                .task_token(task_token)
                .output(output)
                .send()
                .await;
            delivery!(result, "SendTaskSuccess")
        }
        TaskAnswer::Failure { error, cause } => {
            let result = client
                .send_task_failure()
                .task_token(task_token)
                .error(error)
                .cause(cause)
                .send()
                .await;
            delivery!(result, "SendTaskFailure")
        }
    }
}

pub async fn send_task_failure(
    client: &Client,
    task_token: &str,
    error_name: &str,
    cause: &str,
) -> Result<Delivery, TaskError> {
    let answer = TaskAnswer::Failure {
        error: error_name.to_string(),
        cause: cause.to_string(),
    };
    send_answer(client, task_token, &answer).await
}

/// How long after a lost reply the history is read again for the answer: Step Functions records
/// a task's end a moment after it accepts the answer.
const ARRIVAL_CHECKS: [std::time::Duration; 4] = [
    std::time::Duration::ZERO,
    std::time::Duration::from_millis(400),
    std::time::Duration::from_millis(1000),
    std::time::Duration::from_millis(2000),
];

/// Events read, newest first, when looking for an answer that just arrived.
const RECENT_EVENTS: i32 = 200;

/// Whether `answer` ended a task of the execution: the SDK retries a call whose reply was lost,
/// and the retry finds the task gone because the first attempt answered it. The history holds
/// the answer as sent (a success's output compared as JSON).
pub async fn answer_arrived(
    client: &Client,
    execution_arn: &str,
    answer: &TaskAnswer,
) -> Result<bool, TaskError> {
    for pause in ARRIVAL_CHECKS {
        tokio::time::sleep(pause).await;
        let page = client
            .get_execution_history()
            .execution_arn(execution_arn)
            .reverse_order(true)
            .max_results(RECENT_EVENTS)
            .send()
            .await
            .map_err(|e| classify("GetExecutionHistory", &e))?;
        if page.events().iter().any(|event| ends_with(event, answer)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a history event is a callback task or an activity ending with exactly `answer` (not
/// another kind of task: an SDK task's `{}` is no one's answer).
fn ends_with(event: &aws_sdk_sfn::types::HistoryEvent, answer: &TaskAnswer) -> bool {
    let callback = |resource: &str| resource.ends_with(".waitForTaskToken");
    match answer {
        TaskAnswer::Success { output } => {
            let recorded = event
                .task_succeeded_event_details()
                .filter(|d| callback(d.resource()))
                .and_then(|d| d.output())
                .or_else(|| {
                    event
                        .activity_succeeded_event_details()
                        .and_then(|d| d.output())
                });
            recorded.is_some_and(|recorded| same_json(recorded, output))
        }
        TaskAnswer::Failure { error, cause } => {
            let recorded = event
                .task_failed_event_details()
                .filter(|d| callback(d.resource()))
                .map(|d| (d.error(), d.cause()))
                .or_else(|| {
                    event
                        .activity_failed_event_details()
                        .map(|d| (d.error(), d.cause()))
                });
            recorded == Some((Some(error.as_str()), Some(cause.as_str())))
        }
    }
}

fn same_json(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<serde_json::Value>(a),
        serde_json::from_str::<serde_json::Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// An activity task handed to this worker.
pub struct ActivityTask {
    pub task_token: String,
    pub input: String,
}

// No Debug for ActivityTask: it holds a task token.

/// Long-polls an activity for one task (Step Functions holds the call up to 60 s); `None` when there
/// is no work. The client's read timeout must exceed 60 s, or a task handed out to a dropped
/// connection stays invisible until it times out.
pub async fn get_activity_task(
    client: &Client,
    activity_arn: &str,
    worker: &str,
) -> Result<Option<ActivityTask>, TaskError> {
    let output = client
        .get_activity_task()
        .activity_arn(activity_arn)
        .worker_name(worker)
        .send()
        .await
        .map_err(|e| classify("GetActivityTask", &e))?;
    Ok(output
        .task_token()
        .filter(|t| !t.is_empty())
        .map(|token| ActivityTask {
            task_token: token.to_string(),
            input: output.input().unwrap_or("{}").to_string(),
        }))
}

pub async fn send_task_heartbeat(client: &Client, task_token: &str) -> Result<Delivery, TaskError> {
    let result = client
        .send_task_heartbeat()
        .task_token(task_token)
        .send()
        .await;
    delivery!(result, "SendTaskHeartbeat")
}
