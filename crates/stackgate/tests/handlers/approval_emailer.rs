//! approval-emailer against aws-smithy-mocks: the email carries a signed link and never the task
//! token; an SES failure fails the task so that Step Functions retries it.

use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::Client as DynamoDb;
use aws_sdk_sesv2::operation::send_email::{SendEmailError, SendEmailOutput};
use aws_sdk_sesv2::Client as Ses;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use stackgate::approval::approval_id;
use stackgate::tasks::approval_emailer;

use super::approval_api::{key, keys, TOKEN};
use crate::common;

pub(crate) fn emailer(dynamodb: &[&Rule], ses: &[&Rule]) -> approval_emailer::Deps {
    reading_plans(dynamodb, ses, &[])
}

/// The emailer with Step Functions answering `sfn` (a release's plans).
fn reading_plans(dynamodb: &[&Rule], ses: &[&Rule], sfn: &[&Rule]) -> approval_emailer::Deps {
    approval_emailer::Deps {
        sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, sfn),
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, dynamodb),
        ses: mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, ses, |c| c
            .retry_config(aws_sdk_sesv2::config::retry::RetryConfig::disabled())),
        table: "approvals".into(),
        key: keys(),
        sender: Some("stackgate@example.com".into()),
        approvers: vec!["ops@example.com".into()],
        base_url: Some("https://api.example/v1".into()),
    }
}

pub(crate) fn emailer_event() -> LambdaEvent<Value> {
    LambdaEvent::new(
        json!({
            "taskToken": TOKEN,
            "timeoutSeconds": 3600,
            "request": {"kind": "deployment", "stackName": "prod-app", "environmentName": "prod",
                        "changeSetName": "stackgate-1", "summary": "- Topic (AWS::SNS::Topic)",
                        "unsafeChanges": 1, "totalChanges": 2, "requestedBy": "exec-1"}
        }),
        Context::default(),
    )
}

pub(crate) fn put_rule() -> Rule {
    mock!(DynamoDb::put_item)
        .match_requests(|r| {
            let item = r.item().unwrap();
            item["taskToken"].as_s().unwrap() == TOKEN
                && item["id"].as_s().unwrap() == &approval_id(&key(), TOKEN)
        })
        .then_output(|| PutItemOutput::builder().build())
}

pub(crate) fn email_text(r: &aws_sdk_sesv2::operation::send_email::SendEmailInput) -> String {
    let simple = r.content().unwrap().simple().unwrap();
    let body = simple.body().unwrap();
    format!(
        "{}\n{}\n{}",
        simple.subject().unwrap().data(),
        body.text().unwrap().data(),
        body.html().unwrap().data()
    )
}

#[tokio::test]
async fn the_email_carries_a_signed_link_and_never_the_token() {
    let put = put_rule();
    let send = mock!(Ses::send_email)
        .match_requests(|r| {
            let text = email_text(r);
            let id = approval_id(&key(), TOKEN);
            text.contains(&format!("https://api.example/v1/approvals/{id}?exp="))
                && text.contains("- Topic (AWS::SNS::Topic)")
                && !text.contains(TOKEN)
                && !text.contains("AAAAKg")
                && r.destination().unwrap().to_addresses() == ["ops@example.com"]
        })
        .then_output(|| SendEmailOutput::builder().message_id("m-1").build());
    let capture = stackgate::metrics::Capture::start();
    let out = approval_emailer::handle(&emailer(&[&put], &[&send]), emailer_event())
        .await
        .unwrap();
    assert_eq!(out["approvalId"], approval_id(&key(), TOKEN));
    assert!(!out.to_string().contains(TOKEN));
    assert_eq!((put.num_calls(), send.num_calls()), (1, 1));
    assert_eq!(capture.summaries(), ["ApprovalsRequested Kind=Deployment"]);
}

#[tokio::test]
async fn an_ses_failure_fails_the_task_so_that_step_functions_retries_it() {
    let put = put_rule();
    let send = mock!(Ses::send_email).then_error(|| {
        SendEmailError::generic(
            aws_sdk_sesv2::error::ErrorMetadata::builder()
                .code("MessageRejected")
                .message("Email address is not verified")
                .build(),
        )
    });
    let err = approval_emailer::handle(&emailer(&[&put], &[&send]), emailer_event())
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "AwsError");
    assert!(err.to_string().contains("not verified"), "{err}");
    assert!(!err.to_string().contains(TOKEN));
    common::report(
        "guarantees",
        "approval-email-failure",
        json!({"guarantee": "an approval task is never dropped: an email that was not sent fails the task (the state machine retries it)",
               "test": "approvals::an_ses_failure_fails_the_task_so_that_step_functions_retries_it"}),
    );
}

/// The waiting execution is stored beside the token (the page confirms a lost reply against its
/// history); anything but an execution ARN is refused, naming the field and not the value.
#[tokio::test]
async fn the_waiting_execution_is_stored_and_must_be_an_execution_arn() {
    const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:SafeDeploy:api-1";
    let with_execution = |arn: &str| {
        let mut event = emailer_event();
        event.payload["executionArn"] = json!(arn);
        event
    };
    let put = mock!(DynamoDb::put_item)
        .match_requests(|r| r.item().unwrap()["executionArn"].as_s().unwrap() == EXECUTION)
        .then_output(|| PutItemOutput::builder().build());
    let send = mock!(Ses::send_email).then_output(|| SendEmailOutput::builder().build());
    approval_emailer::handle(&emailer(&[&put], &[&send]), with_execution(EXECUTION))
        .await
        .unwrap();
    assert_eq!(put.num_calls(), 1);

    let crafted = "arn:aws:states:us-east-1:1:stateMachine:Other";
    let err = approval_emailer::handle(&emailer(&[&put], &[&send]), with_execution(crafted))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
    assert!(err.to_string().contains("executionArn"), "{err}");
    assert!(!err.to_string().contains(crafted), "{err}");
    assert_eq!(put.num_calls(), 1, "nothing stored for a refused input");
}

const PLAN_A: &str = "arn:aws:states:us-east-1:123456789012:execution:SafeDeploy:deploy-pa";
const PLAN_B: &str = "arn:aws:states:us-east-1:123456789012:execution:SafeDeploy:deploy-pb";
const PLAN_C: &str = "arn:aws:states:us-east-1:123456789012:execution:SafeDeploy:deploy-pc";

/// A plan's execution as safe deploy ends it for a release.
fn plan_execution(arn: &'static str, status: &'static str, output: Value) -> Rule {
    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
    mock!(aws_sdk_sfn::Client::describe_execution)
        .match_requests(move |r| r.execution_arn() == Some(arn))
        .then_output(move || {
            DescribeExecutionOutput::builder()
                .execution_arn(arn)
                .state_machine_arn("arn:aws:states:us-east-1:123456789012:stateMachine:SafeDeploy")
                .status(status.into())
                .start_date(aws_sdk_sfn::primitives::DateTime::from_secs(0))
                .output(output.to_string())
                .build()
                .unwrap()
        })
}

fn release_event(plans: &[&str]) -> LambdaEvent<Value> {
    LambdaEvent::new(
        json!({
            "taskToken": TOKEN,
            "timeoutSeconds": 3600,
            "request": {"kind": "release", "release": "r7", "environmentName": "prod",
                        "planExecutions": plans, "requestedBy": "apikey:a",
                        // What the workflow's input claims is not what people are shown.
                        "stacks": [{"stackName": "prod-fake", "plan": "deploy-pz", "changeSetName": "x",
                                    "verdict": "SAFE", "unsafeChanges": 0, "totalChanges": 0, "summary": "nothing"}]}
        }),
        Context::default(),
    )
}

/// One approval for a release: the emailer reads every stack's plan from its execution (what the
/// plan step judged, never what the workflow's input claims), stores each stack's diff and verdict,
/// and emails them all in one message; a plan without changes has nothing to approve.
#[tokio::test]
async fn a_release_approval_shows_every_plan_as_its_execution_judged_it() {
    let a = plan_execution(
        PLAN_A,
        "SUCCEEDED",
        json!({"outcome": "NEEDS_APPROVAL", "stackName": "prod-data", "changeSetName": "stackgate-a",
               "destination": {"account": "222222222222", "region": "eu-west-1"},
               "verdict": "UNSAFE", "unsafeChanges": 1, "totalChanges": 2,
               "summary": "- Orders (AWS::DynamoDB::Table) [REMOVE]\n+ Queue (AWS::SQS::Queue)"}),
    );
    let b = plan_execution(
        PLAN_B,
        "SUCCEEDED",
        json!({"outcome": "PLANNED", "stackName": "prod-app", "changeSetName": "stackgate-b",
               "verdict": "SAFE", "unsafeChanges": 0, "totalChanges": 1, "summary": "+ Fn (AWS::Lambda::Function)"}),
    );
    let c = plan_execution(
        PLAN_C,
        "SUCCEEDED",
        json!({"outcome": "NO_CHANGES", "stackName": "prod-network"}),
    );
    let put = mock!(DynamoDb::put_item)
        .match_requests(|r| {
            let request: Value =
                serde_json::from_str(r.item().unwrap()["request"].as_s().unwrap()).unwrap();
            let stacks: Vec<&str> = request["stacks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["stackName"].as_str().unwrap())
                .collect();
            // Grouped by where they go: stackgate's own account and Region first.
            stacks == ["prod-app", "prod-data"]
                && request["stacks"][1]["plan"] == "deploy-pa"
                // Where each goes, as its plan's execution says.
                && request["stacks"][1]["account"] == "222222222222"
                && request["stacks"][1]["region"] == "eu-west-1"
                && request["stacks"][0]["account"].is_null()
                && request["unsafeChanges"] == 1
                && request["stacks"][1]["summaryDigest"]
                    == stackgate::approval::summary_digest(
                        "- Orders (AWS::DynamoDB::Table) [REMOVE]\n+ Queue (AWS::SQS::Queue)",
                    )
                && request.get("planExecutions").is_none()
        })
        .then_output(|| PutItemOutput::builder().build());
    let send = mock!(Ses::send_email)
        .match_requests(|r| {
            let text = email_text(r);
            text.contains("Approve release r7: unsafe changes in 1 of its 2 stacks?")
                && text.contains("Account 222222222222, Region eu-west-1")
                && text.contains("- Orders (AWS::DynamoDB::Table) [REMOVE]")
                && text.contains("+ Fn (AWS::Lambda::Function)")
                && !text.contains("prod-fake")
                && !text.contains(TOKEN)
        })
        .then_output(|| SendEmailOutput::builder().build());
    let capture = stackgate::metrics::Capture::start();
    let deps = reading_plans(&[&put], &[&send], &[&a, &b, &c]);
    approval_emailer::handle(&deps, release_event(&[PLAN_A, PLAN_B, PLAN_C]))
        .await
        .unwrap();
    assert_eq!((put.num_calls(), send.num_calls()), (1, 1));
    assert_eq!(capture.summaries(), ["ApprovalsRequested Kind=Release"]);

    // A plan still running, a plan that failed, an ARN that is not a plan's, or one plan twice: no approval is
    // asked for, and the field is named, not its value.
    let running = plan_execution(PLAN_A, "RUNNING", json!({}));
    let refused = plan_execution(PLAN_B, "SUCCEEDED", json!({"outcome": "REFUSED"}));
    for (deps, plans, field) in [
        (
            reading_plans(&[&put], &[&send], &[&running]),
            vec![PLAN_A],
            "request.planExecutions[0]",
        ),
        (
            reading_plans(&[&put], &[&send], &[&refused]),
            vec![PLAN_B],
            "request.planExecutions[0]",
        ),
        (
            reading_plans(&[&put], &[&send], &[]),
            vec!["arn:aws:states:us-east-1:123456789012:execution:SafeDeploy:release-x"],
            "request.planExecutions[0]",
        ),
        (
            reading_plans(&[&put], &[&send], &[]),
            vec![],
            "request.planExecutions",
        ),
        (
            reading_plans(&[&put], &[&send], &[&a]),
            vec![PLAN_A, PLAN_A],
            "request.planExecutions[1]",
        ),
    ] {
        let err = approval_emailer::handle(&deps, release_event(&plans))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput", "{err}");
        assert!(err.to_string().contains(field), "{err}");
        assert!(!err.to_string().contains("release-x"), "{err}");
    }
    assert_eq!((put.num_calls(), send.num_calls()), (1, 1));
}
