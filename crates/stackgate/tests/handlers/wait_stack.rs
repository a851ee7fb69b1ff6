//! wait-stack against aws-smithy-mocks: rollbacks named by their root cause, outputs, deleted stacks.

use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::types::{ResourceStatus, Stack, StackStatus};
use aws_sdk_cloudformation::Client as CloudFormation;
use aws_smithy_mocks::{mock, Rule};
use serde_json::json;
use stackgate::tasks::wait_stack;
use stackgate::TaskError;

use super::create_change_set::{
    cfn_with_summary, describe_stacks_error, event, polling, stack, stack_event, STACK, STACK_ID,
};

/// The wait's dependencies.
fn waiter(cfn_rules: &[&Rule]) -> wait_stack::Deps {
    wait_stack::Deps {
        cloudformation: cfn_with_summary(cfn_rules),
        polling: polling(),
    }
}

#[tokio::test]
async fn a_rolled_back_update_fails_with_the_root_cause() {
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
    let err = wait_stack::handle(
        &waiter(&[&describe, &events]),
        event(json!({"stackName": STACK, "operation": "DEPLOY"})),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "StackOperationFailed");
    let message = err.to_string();
    assert!(message.contains("UPDATE_ROLLBACK_COMPLETE"), "{message}");
    assert!(
        message.contains("Bucket (AWS::S3::Bucket) UPDATE_FAILED: bucket already exists"),
        "{message}"
    );
}

#[tokio::test]
async fn a_completed_update_returns_outputs_and_a_deleted_stack_counts_as_deleted() {
    let describe = mock!(CloudFormation::describe_stacks).then_output(|| {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name(STACK)
                    .stack_id(STACK_ID)
                    .stack_status(StackStatus::UpdateComplete)
                    .creation_time(aws_smithy_types::DateTime::from_secs(0))
                    .outputs(
                        aws_sdk_cloudformation::types::Output::builder()
                            .output_key("Url")
                            .output_value("https://x")
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let out = wait_stack::handle(
        &waiter(&[&describe]),
        event(json!({"stackName": STACK, "operation": "DEPLOY"})),
    )
    .await
    .unwrap();
    assert_eq!(out["outputs"]["Url"], "https://x");

    let gone = mock!(CloudFormation::describe_stacks).then_error(|| {
        describe_stacks_error("ValidationError", "Stack with id prod-app does not exist")
    });
    let out = wait_stack::handle(
        &waiter(&[&gone]),
        event(json!({"stackName": STACK_ID, "operation": "DELETE"})),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "DELETE_COMPLETE");

    let err = wait_stack::handle(
        &waiter(&[&gone]),
        event(json!({"stackName": STACK, "operation": "DEPLOY"})),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "StackOperationFailed");
}

/// A rollback one of the deployment's alarms caused names the alarm (`RolledBackByAlarm`): the
/// stack's rollback event names the alarm that triggered it. How CloudFormation words that reason is
/// not documented, so the alarm is found by its ARN in the reason of the stack's own rollback event;
/// a resource failure that mentions an alarm's name is not taken for it.
#[tokio::test]
async fn a_rollback_an_alarm_caused_names_the_alarm() {
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
    let deps = waiter(&[&describe, &events]);
    let err = wait_stack::handle(
        &deps,
        event(json!({"stackName": STACK, "operation": "DEPLOY", "rollbackAlarms": [ALARM, "arn:aws:cloudwatch:us-east-1:123456789012:alarm:latency"]})),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        TaskError::RolledBackByAlarm {
            stack: STACK.into(),
            status: "UPDATE_ROLLBACK_COMPLETE".into(),
            alarm: ALARM.into()
        }
    );
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
    let err = wait_stack::handle(
        &waiter(&[&describe, &failed]),
        event(json!({"stackName": STACK, "operation": "DEPLOY", "rollbackAlarms": [ALARM]})),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "StackOperationFailed", "{err}");
    // Without alarms (or with others), the same rollback is reported by its root cause.
    let err = wait_stack::handle(
        &deps,
        event(json!({"stackName": STACK, "operation": "DEPLOY", "rollbackAlarms": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:latency"]})),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "StackOperationFailed", "{err}");
}
