//! wait-stack (the registration) and stack-status (CloudFormation's event) against
//! aws-smithy-mocks: a wait is stored before the stack is read; whichever sees the operation's end
//! answers the task, with the outputs or the root cause; an event of another operation, of a stack
//! nobody waits on, or of an operation under way answers nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::types::{ResourceStatus, Stack, StackStatus};
use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client as DynamoDb;
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureOutput;
use aws_sdk_sfn::operation::send_task_success::{SendTaskSuccessError, SendTaskSuccessOutput};
use aws_sdk_sfn::Client as Sfn;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use serde_json::{json, Value};
use stackgate::metrics;
use stackgate::tasks::{stack_status, wait_stack};
use stackgate::TaskError;

use super::create_change_set::{
    cfn_with_summary, describe_stacks_error, event, stack, stack_event, STACK, STACK_ID,
};

const TASK: &str = "AQCEAAAAKgAAAAMAAAAA-task-token";
const TOKEN: &str = "stackgate-0123456789abcdef0123";

/// What the waiting task was told: `Ok(output)` or `Err((error, cause))`.
type Told = Arc<Mutex<Vec<Result<Value, (String, String)>>>>;

struct Aws {
    deps: wait_stack::Deps,
    told: Told,
    stored: Rule,
    removed: Rule,
}

/// The wait's dependencies: CloudFormation as given, the waits table (the stored item, if any, is
/// what GetItem answers) and Step Functions, whose answers are recorded in `told`.
fn aws(cfn_rules: &[&Rule], stored_item: Option<HashMap<String, AttributeValue>>) -> Aws {
    let told: Told = Arc::default();
    let (success_told, failure_told) = (told.clone(), told.clone());
    let success = mock!(Sfn::send_task_success)
        .match_requests(move |r| {
            assert_eq!(r.task_token(), Some(TASK));
            let output = serde_json::from_str(r.output().unwrap_or_default()).unwrap();
            success_told.lock().unwrap().push(Ok(output));
            true
        })
        .then_output(|| SendTaskSuccessOutput::builder().build());
    let failure = mock!(Sfn::send_task_failure)
        .match_requests(move |r| {
            assert_eq!(r.task_token(), Some(TASK));
            failure_told.lock().unwrap().push(Err((
                r.error().unwrap_or_default().to_string(),
                r.cause().unwrap_or_default().to_string(),
            )));
            true
        })
        .then_output(|| SendTaskFailureOutput::builder().build());
    let stored = mock!(DynamoDb::put_item)
        .match_requests(|r| {
            let item = r.item().unwrap();
            r.table_name() == Some("waits")
                && item["stackId"].as_s().unwrap() == STACK_ID
                && item["requestToken"].as_s().unwrap() == TOKEN
                && item["taskToken"].as_s().unwrap() == TASK
                && item.contains_key("ttl")
        })
        .then_output(|| PutItemOutput::builder().build());
    let removed = mock!(DynamoDb::delete_item)
        .match_requests(|r| {
            r.key().unwrap()["stackId"].as_s().unwrap() == STACK_ID
                && r.condition_expression() == Some("taskToken = :answered")
                && r.expression_attribute_values().unwrap()[":answered"]
                    .as_s()
                    .unwrap()
                    == TASK
        })
        .then_output(|| DeleteItemOutput::builder().build());
    let read = mock!(DynamoDb::get_item)
        .match_requests(|r| r.consistent_read() == Some(true))
        .then_output(move || {
            GetItemOutput::builder()
                .set_item(stored_item.clone())
                .build()
        });
    Aws {
        deps: wait_stack::Deps {
            reach: stackgate::aws::reach::Reach::home_only(cfn_with_summary(cfn_rules)),
            dynamodb: mock_client!(
                aws_sdk_dynamodb,
                RuleMode::MatchAny,
                [&stored, &removed, &read]
            ),
            sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&success, &failure]),
            table: "waits".into(),
            environments: vec!["prod".into()],
        },
        told,
        stored,
        removed,
    }
}

impl Aws {
    fn told(&self) -> Vec<Result<Value, (String, String)>> {
        self.told.lock().unwrap().clone()
    }

    /// The one failure the task was told.
    fn failure(&self) -> (String, String) {
        match self.told().as_slice() {
            [Err(failure)] => failure.clone(),
            other => panic!("expected one failure, got {other:?}"),
        }
    }
}

fn registration(operation: &str, alarms: &[&str]) -> Value {
    json!({
        "stackId": STACK_ID,
        "operation": operation,
        "clientRequestToken": TOKEN,
        "taskToken": TASK,
        "rollbackAlarms": alarms,
    })
}

fn register(aws: &Aws, operation: &str, alarms: &[&str]) -> Result<Value, TaskError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(wait_stack::handle(
            &aws.deps,
            event(registration(operation, alarms)),
        ))
}

fn completed_with_outputs() -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name(STACK)
                .stack_id(STACK_ID)
                .stack_status(StackStatus::UpdateComplete)
                .creation_time(aws_smithy_types::DateTime::from_secs(0))
                .tags(
                    aws_sdk_cloudformation::types::Tag::builder()
                        .key("stackgate:environment")
                        .value("prod")
                        .build(),
                )
                .outputs(
                    aws_sdk_cloudformation::types::Output::builder()
                        .output_key("Url")
                        .output_value("https://x")
                        .build(),
                )
                .build(),
        )
        .build()
}

#[test]
fn a_wait_on_an_operation_under_way_is_stored_and_left_to_the_event() {
    let describe =
        mock!(CloudFormation::describe_stacks).then_output(|| stack(StackStatus::UpdateInProgress));
    let aws = aws(&[&describe], None);
    let out = register(&aws, "DEPLOY", &[]).unwrap();
    assert_eq!(out["answered"], false);
    assert_eq!(aws.stored.num_calls(), 1);
    assert!(aws.told().is_empty());
    assert_eq!(aws.removed.num_calls(), 0);
}

#[test]
fn an_operation_that_already_ended_is_answered_by_the_registration() {
    let describe = mock!(CloudFormation::describe_stacks).then_output(completed_with_outputs);
    let aws = aws(&[&describe], None);
    let out = register(&aws, "DEPLOY", &[]).unwrap();
    assert_eq!(out["answered"], true);
    let told = aws.told();
    let [Ok(output)] = told.as_slice() else {
        panic!("{told:?}")
    };
    assert_eq!(output["outputs"]["Url"], "https://x");
    assert_eq!(output["status"], "UPDATE_COMPLETE");
    assert_eq!(output["stackId"], STACK_ID);
    assert_eq!(output["reportedBy"], "check");
    assert_eq!((aws.stored.num_calls(), aws.removed.num_calls()), (1, 1));
}

#[test]
fn the_answer_is_counted_once_by_whoever_delivered_it() {
    let describe = mock!(CloudFormation::describe_stacks).then_output(completed_with_outputs);
    let aws = aws(&[&describe], None);
    let capture = metrics::Capture::start();
    register(&aws, "DEPLOY", &[]).unwrap();
    assert_eq!(
        capture.summaries(),
        [
            "Deployments Environment=prod Outcome=UPDATED",
            "StackOperationSeconds Environment=prod Operation=DEPLOY"
        ]
    );
    drop(capture);

    // The event found the task answered already (the read saw the end first): not counted again.
    let mut late = self::aws(&[&describe], Some(stored_wait()));
    let gone = mock!(Sfn::send_task_success).then_error(|| {
        SendTaskSuccessError::TaskTimedOut(
            aws_sdk_sfn::types::error::TaskTimedOut::builder().build(),
        )
    });
    late.deps.sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&gone]);
    let capture = metrics::Capture::start();
    block(stack_status::handle(
        &late.deps,
        event(status_change("UPDATE_COMPLETE", TOKEN)),
    ))
    .unwrap();
    assert_eq!(capture.summaries(), Vec::<String>::new());
}

/// Anyone allowed to tag stacks in the account could put any text in `stackgate:environment`: a
/// metric names the environment only when it is a managed one and the stack name's own prefix.
#[test]
fn a_forged_environment_tag_is_never_a_metric_dimension() {
    for forged in ["hunter2-secret", "dev"] {
        let forged = forged.to_string();
        let describe = mock!(CloudFormation::describe_stacks).then_output(move || {
            let mut output = completed_with_outputs();
            let found = output.stacks.as_mut().unwrap().first_mut().unwrap();
            found.tags = Some(vec![aws_sdk_cloudformation::types::Tag::builder()
                .key("stackgate:environment")
                .value(forged.clone())
                .build()]);
            output
        });
        let mut aws = aws(&[&describe], None);
        aws.deps.environments.push("dev".into());
        let capture = metrics::Capture::start();
        register(&aws, "DEPLOY", &[]).unwrap();
        assert_eq!(
            capture.summaries(),
            [
                "Deployments Outcome=UPDATED",
                "StackOperationSeconds Operation=DEPLOY"
            ]
        );
    }
}

#[test]
fn a_deleted_stack_counts_as_deleted_and_a_vanished_deployment_fails() {
    let capture = metrics::Capture::start();
    let gone = mock!(CloudFormation::describe_stacks).then_error(|| {
        describe_stacks_error("ValidationError", "Stack with id prod-app does not exist")
    });
    let aws_delete = aws(&[&gone], None);
    register(&aws_delete, "DELETE", &[]).unwrap();
    let told = aws_delete.told();
    let [Ok(output)] = told.as_slice() else {
        panic!("{told:?}")
    };
    assert_eq!(output["status"], "DELETE_COMPLETE");

    let aws_deploy = aws(&[&gone], None);
    register(&aws_deploy, "DEPLOY", &[]).unwrap();
    assert_eq!(aws_deploy.failure().0, "StackOperationFailed");
    // A stack that is gone has no tags left to name its environment: only the totals.
    assert_eq!(
        capture.summaries(),
        [
            "Deployments Outcome=DELETED",
            "StackOperationSeconds Operation=DELETE",
            "Deployments Outcome=FAILED",
            "StackOperationSeconds Operation=DEPLOY"
        ]
    );
}

#[test]
fn a_task_already_gone_still_removes_the_wait() {
    let describe = mock!(CloudFormation::describe_stacks).then_output(completed_with_outputs);
    let mut aws = aws(&[&describe], None);
    let gone = mock!(Sfn::send_task_success).then_error(|| {
        SendTaskSuccessError::TaskTimedOut(
            aws_sdk_sfn::types::error::TaskTimedOut::builder().build(),
        )
    });
    aws.deps.sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&gone]);
    let out = register(&aws, "DEPLOY", &[]).unwrap();
    assert_eq!(out["answered"], true);
    assert_eq!(aws.removed.num_calls(), 1);
}

#[test]
fn a_malformed_registration_names_the_field_and_calls_nothing() {
    let aws = aws(&[], None);
    let run = |payload: Value| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(wait_stack::handle(&aws.deps, event(payload)))
            .unwrap_err()
    };
    let mut not_an_arn = registration("DEPLOY", &[]);
    not_an_arn["stackId"] = json!("prod-app secret-value");
    let error = run(not_an_arn);
    assert!(matches!(&error, TaskError::InvalidInput { field, .. } if field == "stackId"));
    assert!(!format!("{error:?}").contains("secret-value"));
    let mut no_task = registration("DEPLOY", &[]);
    no_task["taskToken"] = json!("");
    assert!(matches!(run(no_task), TaskError::InvalidInput { field, .. } if field == "taskToken"));
    let mut unknown = registration("DEPLOY", &[]);
    unknown["operation"] = json!("REPLACE");
    assert!(matches!(run(unknown), TaskError::InvalidInput { .. }));
    assert_eq!(aws.stored.num_calls(), 0);
}

#[test]
fn a_rolled_back_update_fails_with_the_root_cause() {
    let describe = mock!(CloudFormation::describe_stacks)
        .sequence()
        .output(|| stack(StackStatus::UpdateInProgress))
        .output(|| stack(StackStatus::UpdateRollbackComplete))
        .build();
    let events = mock!(CloudFormation::describe_stack_events).then_output(|| {
        DescribeStackEventsOutput::builder()
            .stack_events(stack_event(
                STACK,
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateRollbackComplete,
                "",
            ))
            .stack_events(stack_event(
                STACK,
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateRollbackInProgress,
                "The following resource(s) failed to update: [Bucket]",
            ))
            .stack_events(stack_event(
                "Bucket",
                "AWS::S3::Bucket",
                ResourceStatus::UpdateFailed,
                "bucket already exists",
            ))
            .stack_events(stack_event(
                STACK,
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateInProgress,
                "User Initiated",
            ))
            .build()
    });
    let aws = aws(&[&describe, &events], Some(stored_wait()));
    let out = register(&aws, "DEPLOY", &[]).unwrap();
    // The stack was under way when read first: the event's answer is the failure.
    assert_eq!(out["answered"], false);
    let out = stack_status::handle(
        &aws.deps,
        event(status_change("UPDATE_ROLLBACK_COMPLETE", TOKEN)),
    );
    assert_eq!(block(out).unwrap()["answered"], true);
    let (error, message) = aws.failure();
    assert_eq!(error, "StackOperationFailed");
    assert!(message.contains("UPDATE_ROLLBACK_COMPLETE"), "{message}");
    assert!(
        message.contains("Bucket (AWS::S3::Bucket) UPDATE_FAILED: bucket already exists"),
        "{message}"
    );
}

/// A rollback one of the deployment's alarms caused names the alarm (`RolledBackByAlarm`): the
/// stack's rollback event names the alarm that triggered it. How CloudFormation words that reason is
/// not documented, so the alarm is found by its ARN in the reason of the stack's own rollback event;
/// a resource failure that mentions an alarm's name is not taken for it.
#[test]
fn a_rollback_an_alarm_caused_names_the_alarm() {
    const ALARM: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx";
    let describe = mock!(CloudFormation::describe_stacks)
        .then_output(|| stack(StackStatus::UpdateRollbackComplete));
    let events = mock!(CloudFormation::describe_stack_events).then_output(|| {
        DescribeStackEventsOutput::builder()
            .stack_events(stack_event(
                STACK,
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateRollbackComplete,
                "",
            ))
            .stack_events(stack_event(
                STACK,
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateRollbackInProgress,
                &format!("Rollback triggered by alarm(s): [{ALARM}]"),
            ))
            .stack_events(stack_event(
                STACK,
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateInProgress,
                "User Initiated",
            ))
            .build()
    });
    let alarmed = aws(&[&describe, &events], None);
    register(
        &alarmed,
        "DEPLOY",
        &[
            ALARM,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:latency",
        ],
    )
    .unwrap();
    let (error, cause) = alarmed.failure();
    assert_eq!(error, "RolledBackByAlarm");
    assert!(cause.contains(ALARM), "{cause}");
    // A resource named like an alarm failing is a resource failure, not the alarm.
    let failed = mock!(CloudFormation::describe_stack_events).then_output(|| {
        DescribeStackEventsOutput::builder()
            .stack_events(stack_event(
                STACK,
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateRollbackInProgress,
                "The following resource(s) failed to update: [checkout-5xx]",
            ))
            .stack_events(stack_event(
                "checkout-5xx",
                "AWS::CloudWatch::Alarm",
                ResourceStatus::UpdateFailed,
                &format!("{ALARM} could not be updated"),
            ))
            .stack_events(stack_event(
                STACK,
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateInProgress,
                "User Initiated",
            ))
            .build()
    });
    let resource_failed = aws(&[&describe, &failed], None);
    register(&resource_failed, "DEPLOY", &[ALARM]).unwrap();
    assert_eq!(resource_failed.failure().0, "StackOperationFailed");
    // Without alarms (or with others), the same rollback is reported by its root cause.
    let other_alarms = aws(&[&describe, &events], None);
    register(
        &other_alarms,
        "DEPLOY",
        &["arn:aws:cloudwatch:us-east-1:123456789012:alarm:latency"],
    )
    .unwrap();
    assert_eq!(other_alarms.failure().0, "StackOperationFailed");
}

fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

/// CloudFormation's event, as EventBridge delivers it.
fn status_change(status: &str, token: &str) -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "CloudFormation Stack Status Change",
        "source": "aws.cloudformation",
        "account": "123456789012",
        "time": "2026-12-03T05:00:00Z",
        "region": "us-east-1",
        "resources": [STACK_ID],
        "detail": {
            "stack-id": STACK_ID,
            "status-details": {"status": status, "status-reason": ""},
            "client-request-token": token
        }
    })
}

fn stored_wait() -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("stackId".into(), AttributeValue::S(STACK_ID.into())),
        ("requestToken".into(), AttributeValue::S(TOKEN.into())),
        ("taskToken".into(), AttributeValue::S(TASK.into())),
        ("operation".into(), AttributeValue::S("DEPLOY".into())),
        ("rollbackAlarms".into(), AttributeValue::L(vec![])),
        ("expiresAt".into(), AttributeValue::N("4102444800".into())),
    ])
}

#[test]
fn the_event_of_the_awaited_operation_answers_with_the_stacks_outputs() {
    let describe = mock!(CloudFormation::describe_stacks).then_output(completed_with_outputs);
    let aws = aws(&[&describe], Some(stored_wait()));
    let out = block(stack_status::handle(
        &aws.deps,
        event(status_change("UPDATE_COMPLETE", TOKEN)),
    ))
    .unwrap();
    assert_eq!(out["answered"], true);
    let told = aws.told();
    let [Ok(output)] = told.as_slice() else {
        panic!("{told:?}")
    };
    assert_eq!(output["reportedBy"], "event");
    assert_eq!(output["outputs"]["Url"], "https://x");
    assert_eq!(aws.removed.num_calls(), 1);
}

#[test]
fn events_of_other_operations_stacks_or_moments_answer_nothing() {
    let describe = mock!(CloudFormation::describe_stacks).then_output(completed_with_outputs);
    // An earlier operation's end, delivered late.
    let aws_earlier = aws(&[&describe], Some(stored_wait()));
    let out = block(stack_status::handle(
        &aws_earlier.deps,
        event(status_change("UPDATE_COMPLETE", "stackgate-an-earlier-one")),
    ))
    .unwrap();
    assert_eq!(out["answered"], false);
    assert!(aws_earlier.told().is_empty());
    // A stack nobody waits on.
    let aws_nobody = aws(&[&describe], None);
    let out = block(stack_status::handle(
        &aws_nobody.deps,
        event(status_change("UPDATE_COMPLETE", TOKEN)),
    ))
    .unwrap();
    assert_eq!(out["answered"], false);
    assert!(aws_nobody.told().is_empty());
    // An operation under way: nothing is read at all (no CloudFormation or DynamoDB rule matches).
    let idle = aws(&[], Some(stored_wait()));
    let out = block(stack_status::handle(
        &idle.deps,
        event(status_change("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", TOKEN)),
    ))
    .unwrap();
    assert_eq!(out["answered"], false);
    assert!(idle.told().is_empty());
}

#[test]
fn an_event_the_stack_does_not_confirm_answers_nothing() {
    // The event says ended, the stack says under way (a new operation started since): the
    // wait stays for that operation's own end.
    let describe =
        mock!(CloudFormation::describe_stacks).then_output(|| stack(StackStatus::UpdateInProgress));
    let aws = aws(&[&describe], Some(stored_wait()));
    let out = block(stack_status::handle(
        &aws.deps,
        event(status_change("UPDATE_COMPLETE", TOKEN)),
    ))
    .unwrap();
    assert_eq!(out["answered"], false);
    assert!(aws.told().is_empty());
    assert_eq!(aws.removed.num_calls(), 0);
}

#[test]
fn a_malformed_event_names_the_field() {
    let aws = aws(&[], None);
    let mut foreign = status_change("UPDATE_COMPLETE", TOKEN);
    foreign["source"] = json!("my.app");
    let error = block(stack_status::handle(&aws.deps, event(foreign))).unwrap_err();
    assert!(matches!(&error, TaskError::InvalidInput { field, .. } if field == "source"));
}

/// A stack in another account and Region: its wait says where, and the event (forwarded from
/// there) is confirmed by reading the stack there, never at home; a stored place stackgate could
/// not have written is no place to assume a role in.
#[test]
fn a_wait_elsewhere_is_stored_with_where_and_read_there() {
    let describe = mock!(CloudFormation::describe_stacks).then_output(completed_with_outputs);
    // Home answers nothing.
    let reach = || {
        super::stack_operation::reach_elsewhere(
            cfn_with_summary(&[]),
            cfn_with_summary(&[&describe]),
        )
    };
    // The stack's ARN names where it lives.
    let arn = "arn:aws:cloudformation:eu-west-1:222222222222:stack/prod-app/1";
    let elsewhere = |value: Value| -> Value {
        serde_json::from_str(&value.to_string().replace(STACK_ID, arn)).unwrap()
    };
    let mut there = stored_wait();
    there.insert("stackId".into(), AttributeValue::S(arn.into()));
    there.insert("account".into(), AttributeValue::S("222222222222".into()));
    there.insert("region".into(), AttributeValue::S("eu-west-1".into()));
    let mut event_side = aws(&[], Some(there.clone()));
    event_side.deps.reach = reach();
    // The wait of that stack, read and then removed once answered.
    let (read, removed) = (
        mock!(DynamoDb::get_item).then_output({
            let there = there.clone();
            move || {
                GetItemOutput::builder()
                    .set_item(Some(there.clone()))
                    .build()
            }
        }),
        mock!(DynamoDb::delete_item)
            .match_requests(move |r| r.key().unwrap()["stackId"].as_s().unwrap() == arn)
            .then_output(|| DeleteItemOutput::builder().build()),
    );
    event_side.deps.dynamodb =
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&read, &removed]);
    let out = block(stack_status::handle(
        &event_side.deps,
        event(elsewhere(status_change("UPDATE_COMPLETE", TOKEN))),
    ))
    .unwrap();
    assert_eq!(out["answered"], true);
    assert_eq!(describe.num_calls(), 1);

    // The registration stores where.
    let stored_there = mock!(DynamoDb::put_item)
        .match_requests(|r| {
            let item = r.item().unwrap();
            item.get("account")
                .and_then(|a| a.as_s().ok())
                .map(String::as_str)
                == Some("222222222222")
                && item
                    .get("region")
                    .and_then(|a| a.as_s().ok())
                    .map(String::as_str)
                    == Some("eu-west-1")
        })
        .then_output(|| PutItemOutput::builder().build());
    let mut registering = aws(&[], None);
    registering.deps.reach = reach();
    registering.deps.dynamodb = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&stored_there, &removed]
    );
    let mut input = elsewhere(registration("DEPLOY", &[]));
    input["destination"] = json!({"account": "222222222222", "region": "eu-west-1"});
    block(wait_stack::handle(&registering.deps, event(input))).unwrap();
    assert_eq!(stored_there.num_calls(), 1);
    // A wait that says its stack is elsewhere than its ARN does: nothing stored, nothing read.
    let mut astray = registration("DEPLOY", &[]);
    astray["destination"] = json!({"account": "222222222222", "region": "eu-west-1"});
    let error = block(wait_stack::handle(&registering.deps, event(astray))).unwrap_err();
    assert!(
        matches!(&error, TaskError::InvalidInput { field, .. } if field == "destination"),
        "{error:?}"
    );
    assert_eq!(stored_there.num_calls(), 1);

    // A tampered item: refused, nothing read, nobody answered; a well-formed account that is not
    // the ARN's, too.
    for account in ["22222222222x", "333333333333"] {
        let mut tampered_item = there.clone();
        tampered_item.insert("account".into(), AttributeValue::S(account.into()));
        let mut tampered = aws(&[], Some(tampered_item));
        tampered.deps.reach = reach();
        let result = block(stack_status::handle(
            &tampered.deps,
            event(elsewhere(status_change("UPDATE_COMPLETE", TOKEN))),
        ));
        assert!(result.is_err(), "{account}: {result:?}");
        assert!(tampered.told().is_empty());
    }
    // Read twice, there: for the event and for the registration; never for a tampered wait.
    assert_eq!(describe.num_calls(), 2);
}
