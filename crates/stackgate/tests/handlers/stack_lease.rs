//! The stack leases against aws-smithy-mocks: the conditional writes DynamoDB answers, a holder
//! that is running, ended or gone, and the operator's queue and refuse. The plan handlers take the
//! lease before they read the stack (create_change_set.rs, plan_delete.rs).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client as DynamoDb;
use aws_sdk_sfn::operation::describe_execution::{DescribeExecutionError, DescribeExecutionOutput};
use aws_sdk_sfn::types::ExecutionStatus;
use aws_sdk_sfn::Client as Sfn;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use stackgate::lease::{Mode, Settings};
use stackgate::tasks::stack_lease::Leases;
use stackgate::TaskError;

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:execution:SafeDeployStateMachine";
const TABLE: &str = "leases";

fn me() -> String {
    format!("{MACHINE}:mine")
}

fn other() -> String {
    format!("{MACHINE}:other")
}

fn leases(mode: Mode, dynamodb: &[&Rule], sfn: &[&Rule]) -> Leases {
    Leases {
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, dynamodb),
        sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, sfn),
        table: TABLE.into(),
        settings: Settings {
            mode,
            wait: Duration::from_secs(600),
        },
    }
}

async fn take(leases: &Leases) -> Result<(), TaskError> {
    leases.take("prod-app", &me()).await
}

fn refused() -> PutItemError {
    PutItemError::ConditionalCheckFailedException(
        ConditionalCheckFailedException::builder().build(),
    )
}

fn held_by(holder: String) -> GetItemOutput {
    GetItemOutput::builder()
        .item("stackName", AttributeValue::S("prod-app".into()))
        .item("holder", AttributeValue::S(holder))
        .item("takenAt", AttributeValue::N("1".into()))
        .item("expiresAt", AttributeValue::N("9999999999".into()))
        .build()
}

fn execution(status: ExecutionStatus, started_secs_ago: u64) -> DescribeExecutionOutput {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    DescribeExecutionOutput::builder()
        .execution_arn("arn")
        .state_machine_arn("machine")
        .status(status)
        .start_date(aws_smithy_types::DateTime::from_secs(
            (now - started_secs_ago) as i64,
        ))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_free_stack_is_taken_with_a_conditional_write_naming_the_holder() {
    let put = mock!(DynamoDb::put_item)
        .match_requests(|r| {
            r.table_name() == Some(TABLE)
                && r.item().and_then(|i| i.get("stackName"))
                    == Some(&AttributeValue::S("prod-app".into()))
                && r.item().and_then(|i| i.get("holder")) == Some(&AttributeValue::S(me()))
                && r.condition_expression().is_some_and(|c| {
                    c.contains("attribute_not_exists(stackName)") && c.contains("holder = :me")
                })
        })
        .then_output(|| PutItemOutput::builder().build());
    take(&leases(Mode::Queue, &[&put], &[])).await.unwrap();
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_running_holder_queues_the_taker_and_is_named() {
    let put = mock!(DynamoDb::put_item).then_error(refused);
    let get = mock!(DynamoDb::get_item).then_output(|| held_by(other()));
    let running =
        mock!(Sfn::describe_execution).then_output(|| execution(ExecutionStatus::Running, 5));
    let error = take(&leases(Mode::Queue, &[&put, &get], &[&running]))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "StackQueued");
    assert!(error.to_string().contains(&other()), "{error}");
    assert_eq!(put.num_calls(), 1, "no second write while the holder runs");
}

#[tokio::test]
async fn a_queued_taker_past_the_operators_wait_fails_with_stack_busy() {
    let put = mock!(DynamoDb::put_item).then_error(refused);
    let get = mock!(DynamoDb::get_item).then_output(|| held_by(other()));
    // The holder runs, and the taker's own execution started 11 minutes ago (the wait is 10).
    let holder = mock!(Sfn::describe_execution)
        .match_requests(|r| r.execution_arn() == Some(other().as_str()))
        .then_output(|| execution(ExecutionStatus::Running, 3600));
    let own = mock!(Sfn::describe_execution)
        .match_requests(|r| r.execution_arn() == Some(me().as_str()))
        .then_output(|| execution(ExecutionStatus::Running, 660));
    let error = take(&leases(Mode::Queue, &[&put, &get], &[&holder, &own]))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "StackBusy");
    assert!(!error.to_string().contains(&other()), "{error}");
}

#[tokio::test]
async fn refuse_fails_at_once_without_naming_another_callers_execution() {
    let put = mock!(DynamoDb::put_item).then_error(refused);
    let get = mock!(DynamoDb::get_item).then_output(|| held_by(other()));
    let running =
        mock!(Sfn::describe_execution).then_output(|| execution(ExecutionStatus::Running, 0));
    let error = take(&leases(Mode::Refuse, &[&put, &get], &[&running]))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "StackBusy");
    // Whoever reads this execution's error may not be the holder's caller: it is not named.
    assert!(!error.to_string().contains(&other()), "{error}");
    assert!(error.to_string().contains("prod-app"), "{error}");
    assert_eq!(
        running.num_calls(),
        1,
        "refuse does not ask how long it waited"
    );
}

#[tokio::test]
async fn the_lease_of_an_aborted_or_vanished_execution_is_taken_over_from_that_holder_only() {
    for gone in [true, false] {
        let put = mock!(DynamoDb::put_item)
            .match_requests(|r| {
                r.condition_expression()
                    .is_some_and(|c| c.contains("attribute_not_exists"))
            })
            .then_error(refused);
        let take_over = mock!(DynamoDb::put_item)
            .match_requests(|r| {
                r.condition_expression() == Some("holder = :previous OR holder = :me")
                    && r.expression_attribute_values()
                        .and_then(|v| v.get(":previous"))
                        == Some(&AttributeValue::S(other()))
            })
            .then_output(|| PutItemOutput::builder().build());
        let get = mock!(DynamoDb::get_item).then_output(|| held_by(other()));
        let holder = if gone {
            mock!(Sfn::describe_execution).then_error(|| {
                DescribeExecutionError::ExecutionDoesNotExist(
                    aws_sdk_sfn::types::error::ExecutionDoesNotExist::builder().build(),
                )
            })
        } else {
            mock!(Sfn::describe_execution).then_output(|| execution(ExecutionStatus::Aborted, 60))
        };
        take(&leases(Mode::Refuse, &[&put, &take_over, &get], &[&holder]))
            .await
            .unwrap();
        assert_eq!(take_over.num_calls(), 1, "gone: {gone}");
    }
}

#[tokio::test]
async fn a_retried_take_by_the_same_execution_keeps_the_lease() {
    // The write's condition lets the holder write again: a retried or second planning pass.
    let put = mock!(DynamoDb::put_item)
        .match_requests(|r| {
            r.expression_attribute_values().and_then(|v| v.get(":me"))
                == Some(&AttributeValue::S(me()))
        })
        .then_output(|| PutItemOutput::builder().build());
    let leases = leases(Mode::Refuse, &[&put], &[]);
    take(&leases).await.unwrap();
    take(&leases).await.unwrap();
    assert_eq!(put.num_calls(), 2);
}

/// Leases on a table where every stack is free: what the plan handlers' tests run with.
pub(crate) fn free() -> Leases {
    let put = mock!(DynamoDb::put_item).then_output(|| PutItemOutput::builder().build());
    leases(Mode::Queue, &[&put], &[])
}

/// Leases where `stack` is held by another, running execution and every other stack is free.
pub(crate) fn held(stack: &'static str) -> Leases {
    let theirs = mock!(DynamoDb::put_item)
        .match_requests(move |r| {
            r.item().and_then(|i| i.get("stackName")) == Some(&AttributeValue::S(stack.into()))
        })
        .then_error(refused);
    let free = mock!(DynamoDb::put_item).then_output(|| PutItemOutput::builder().build());
    let get = mock!(DynamoDb::get_item).then_output(|| held_by(other()));
    let running =
        mock!(Sfn::describe_execution).then_output(|| execution(ExecutionStatus::Running, 5));
    leases(Mode::Queue, &[&theirs, &free, &get], &[&running])
}

/// The execution ARN the plan handlers' tests take leases as.
pub(crate) const HOLDER: &str =
    "arn:aws:states:us-east-1:123456789012:execution:SafeDeployStateMachine:exec-1";

#[tokio::test]
async fn a_lease_that_names_no_holder_is_an_error_not_a_free_stack() {
    let put = mock!(DynamoDb::put_item).then_error(refused);
    let get = mock!(DynamoDb::get_item).then_output(|| {
        GetItemOutput::builder()
            .item("stackName", AttributeValue::S("prod-app".into()))
            .build()
    });
    let error = take(&leases(Mode::Queue, &[&put, &get], &[]))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "AwsError", "{error}");
    assert!(error.to_string().contains("names no holder"), "{error}");
    assert_eq!(put.num_calls(), 1, "no write over it");
}
