//! The activity dispatcher and the external-job callback against aws-smithy-mocks (moto does not
//! implement GetActivityTask) and a webhook receiver on loopback.

use crate::common;
use std::time::Duration;

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client as DynamoDb;
use aws_sdk_sesv2::operation::send_email::SendEmailOutput;
use aws_sdk_sesv2::Client as Ses;
use aws_sdk_sfn::operation::get_activity_task::GetActivityTaskOutput;
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureOutput;
use aws_sdk_sfn::operation::send_task_heartbeat::SendTaskHeartbeatOutput;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessOutput;
use aws_sdk_sfn::Client as Sfn;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use lambda_http::{Body, RequestExt};
use serde_json::{json, Value};
use stackgate::activities::{Activity, ActivityKind};
use stackgate::approval::{approval_id, callback_link};
use stackgate::tasks::activity_dispatcher::{dispatch_all, Deps, Output};
use stackgate::tasks::{approval_api, approval_emailer};
use stackgate::webhook::WebhookClient;

use super::approval_api::{clients as page, key, keys};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "AAAAKgAAAAIAAAAAAAAAAactivity+token/secret==";
const MANUAL: &str = "arn:aws:states:us-east-1:123456789012:activity:manual";
const JOBS: &str = "arn:aws:states:us-east-1:123456789012:activity:jobs";

/// The mocked clients a dispatcher run uses: the emailer's and Step Functions'.
struct Mocked {
    email: approval_emailer::Deps,
    sfn: aws_sdk_sfn::Client,
}

fn approvals(dynamodb: &[&Rule], ses: &[&Rule], sfn: &[&Rule]) -> Mocked {
    Mocked {
        email: approval_emailer::Deps {
            dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, dynamodb),
            ses: mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, ses),
            sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, sfn),
            table: "approvals".into(),
            key: keys(),
            sender: Some("stackgate@example.com".into()),
            approvers: vec!["ops@example.com".into()],
            base_url: Some("https://api.example/v1".into()),
        },
        sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, sfn),
    }
}

const WEBHOOK_PARAMETER: &str = "/stackgate/external-job-webhook-url";

fn dispatcher(mocked: Mocked, activities: Vec<Activity>) -> Deps {
    Deps {
        email: mocked.email,
        sfn: mocked.sfn,
        ssm: mock_client!(aws_sdk_ssm, RuleMode::MatchAny, []),
        webhook: WebhookClient::new().unwrap(),
        activities,
        worker_name: "test-worker".into(),
    }
}

/// The dispatcher of external jobs whose webhook URL (a SecureString) is `url`.
fn job_dispatcher(approvals: Mocked, url: String) -> Deps {
    let url_rule = mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(|r| {
            r.name() == Some(WEBHOOK_PARAMETER) && r.with_decryption() == Some(true)
        })
        .then_output(move || {
            aws_sdk_ssm::operation::get_parameter::GetParameterOutput::builder()
                .parameter(
                    aws_sdk_ssm::types::Parameter::builder()
                        .value(url.clone())
                        .version(1)
                        .build(),
                )
                .build()
        });
    let mut clients = dispatcher(
        approvals,
        vec![Activity {
            arn: JOBS.into(),
            kind: ActivityKind::Webhook {
                url_parameter: WEBHOOK_PARAMETER.into(),
            },
        }],
    );
    clients.ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&url_rule]);
    clients
}

fn one_task(activity: &'static str, input: &'static str) -> Rule {
    mock!(Sfn::get_activity_task)
        .match_requests(move |r| r.activity_arn() == Some(activity))
        .sequence()
        .output(move || {
            GetActivityTaskOutput::builder()
                .task_token(TOKEN)
                .input(input)
                .build()
        })
        .output(|| GetActivityTaskOutput::builder().build())
        .build()
}

fn heartbeat() -> Rule {
    mock!(Sfn::send_task_heartbeat)
        .match_requests(|r| r.task_token() == Some(TOKEN))
        .then_output(|| SendTaskHeartbeatOutput::builder().build())
}

fn put() -> Rule {
    mock!(DynamoDb::put_item).then_output(|| PutItemOutput::builder().build())
}

fn failed_back(cause_contains: &'static str) -> Rule {
    mock!(Sfn::send_task_failure)
        .match_requests(move |r| {
            r.task_token() == Some(TOKEN)
                && r.error() == Some("DispatchFailed")
                && r.cause().is_some_and(|c| c.contains(cause_contains))
        })
        .then_output(|| SendTaskFailureOutput::builder().build())
}

const BUDGET: Duration = Duration::from_secs(600);

fn emailed() -> Rule {
    mock!(Ses::send_email).then_output(|| SendEmailOutput::builder().build())
}

/// A dispatcher polling the manual-task activity only.
fn manual_tasks(task: &Rule, put: &Rule, email: &Rule, beat: &Rule) -> Deps {
    dispatcher(
        approvals(&[put], &[email], &[task, beat]),
        vec![Activity {
            arn: MANUAL.into(),
            kind: ActivityKind::ManualTask,
        }],
    )
}

#[tokio::test]
async fn an_empty_activity_dispatches_nothing() {
    let empty =
        mock!(Sfn::get_activity_task).then_output(|| GetActivityTaskOutput::builder().build());
    let clients = dispatcher(
        approvals(&[], &[], &[&empty]),
        vec![Activity {
            arn: MANUAL.into(),
            kind: ActivityKind::ManualTask,
        }],
    );
    assert_eq!(
        dispatch_all(&clients, BUDGET).await.unwrap(),
        Output::default()
    );
    assert_eq!(empty.num_calls(), 1);
}

#[tokio::test]
async fn a_manual_task_is_emailed_with_a_link_and_acknowledged() {
    let task = one_task(
        MANUAL,
        r#"{"taskName":"Open port 443 to the VPC","instructions":"Ticket NET-42"}"#,
    );
    let (put, beat) = (put(), heartbeat());
    let email = mock!(Ses::send_email)
        .match_requests(|r| {
            let simple = r.content().unwrap().simple().unwrap();
            let text = simple.body().unwrap().text().unwrap().data();
            text.contains("Open port 443") && text.contains("/approvals/") && !text.contains(TOKEN)
        })
        .then_output(|| SendEmailOutput::builder().build());
    let clients = dispatcher(
        approvals(&[&put], &[&email], &[&task, &beat]),
        vec![Activity {
            arn: MANUAL.into(),
            kind: ActivityKind::ManualTask,
        }],
    );
    let output = dispatch_all(&clients, BUDGET).await.unwrap();
    assert_eq!(
        output,
        Output {
            dispatched: 1,
            failed_back: 0
        }
    );
    assert_eq!((email.num_calls(), beat.num_calls()), (1, 1));
}

/// The process-level secrets check (stackgate-bench's tests/secrets.rs) cannot hand the dispatcher
/// a task (moto lacks GetActivityTask); here it gets one, and its logs at TRACE, with the
/// functions' own filter, must hold neither the token nor a link signature.
#[tokio::test]
async fn the_tokens_it_is_handed_never_reach_the_logs() {
    let logs = common::CapturedLogs::start();
    // As Step Functions sends it (an HTTP body, not a modeled output), so that what the SDK logs
    // about responses is exercised too.
    let task = mock!(Sfn::get_activity_task)
        .sequence()
        .http_response(|| {
            let body = json!({"taskToken": TOKEN, "input": r#"{"taskName":"Rotate the keys"}"#});
            let mut response = aws_sdk_sfn::config::http::HttpResponse::new(
                200.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from(body.to_string()),
            );
            response
                .headers_mut()
                .insert("content-type", "application/x-amz-json-1.0");
            response
        })
        .output(|| GetActivityTaskOutput::builder().build())
        .build();
    let (put, beat, email) = (put(), heartbeat(), emailed());
    let clients = manual_tasks(&task, &put, &email, &beat);
    assert_eq!(dispatch_all(&clients, BUDGET).await.unwrap().dispatched, 1);

    let (url, received) = receiver(500).await;
    let job = one_task(JOBS, r#"{"taskName":"Create VPC"}"#);
    let (put, failure) = (self::put(), failed_back("HTTP 500"));
    let clients = job_dispatcher(approvals(&[&put], &[], &[&job, &failure]), url);
    assert_eq!(dispatch_all(&clients, BUDGET).await.unwrap().failed_back, 1);
    received.await.unwrap();

    let text = logs.text();
    assert!(text.contains("activity task handed on"), "{text}");
    assert!(text.contains("could not be handed on"), "{text}");
    assert!(
        !text.contains(TOKEN),
        "a task token reached the logs:\n{text}"
    );
    assert!(
        !text.contains("sig="),
        "a link signature reached the logs:\n{text}"
    );
    common::report(
        "secrets",
        "activity-dispatcher-in-process",
        json!({"function": "activity-dispatcher", "invocations": 2,
               "secrets": ["task token", "approval link signature"], "inProcess": true}),
    );
}

/// A one-shot HTTP receiver on loopback: answers `status` and returns the request it got.
async fn receiver(status: u16) -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/job/deploy/buildWithParameters?token=jenkins-job-token",
        listener.local_addr().unwrap()
    );
    let handle = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap();
            received.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&received).to_string();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    })
                    .unwrap_or(0);
                if received.len() >= head_end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        let reply =
            format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        stream.write_all(reply.as_bytes()).await.unwrap();
        String::from_utf8_lossy(&received).into_owned()
    });
    (url, handle)
}

#[tokio::test]
async fn an_external_job_is_triggered_with_a_reference_and_a_signed_callback() {
    let (url, received) = receiver(201).await;
    let task = one_task(
        JOBS,
        r#"{"taskName":"Create VPC","parameters":{"CIDR":"10.0.0.0/16"}}"#,
    );
    let (put, beat) = (put(), heartbeat());
    let clients = job_dispatcher(approvals(&[&put], &[], &[&task, &beat]), url);
    let output = dispatch_all(&clients, BUDGET).await.unwrap();
    assert_eq!(
        output,
        Output {
            dispatched: 1,
            failed_back: 0
        }
    );
    let request = received.await.unwrap();
    let id = approval_id(&key(), TOKEN);
    assert!(
        request.starts_with("POST /job/deploy/buildWithParameters?token=jenkins-job-token"),
        "{request}"
    );
    assert!(request.contains("CIDR=10.0.0.0%2F16"), "{request}");
    assert!(
        request.contains(&format!("STACKGATE_TASK_ID={id}")),
        "{request}"
    );
    assert!(
        request.contains("STACKGATE_CALLBACK_URL=https%3A%2F%2Fapi.example%2Fv1%2Ftasks%2F"),
        "{request}"
    );
    assert!(!request.contains("AAAAKg"), "the task token never leaves");
    assert_eq!(beat.num_calls(), 1);
}

#[tokio::test]
async fn a_task_that_cannot_be_handed_on_is_failed_back_not_dropped() {
    let (url, received) = receiver(500).await;
    let task = one_task(JOBS, r#"{"taskName":"Create VPC"}"#);
    let (put, failure) = (put(), failed_back("HTTP 500"));
    let clients = job_dispatcher(approvals(&[&put], &[], &[&task, &failure]), url);
    let output = dispatch_all(&clients, BUDGET).await.unwrap();
    assert_eq!(
        output,
        Output {
            dispatched: 0,
            failed_back: 1
        }
    );
    assert_eq!(failure.num_calls(), 1);
    received.await.unwrap();

    let bad = one_task(MANUAL, "not json");
    let failure = failed_back("taskName");
    let clients = dispatcher(
        approvals(&[], &[], &[&bad, &failure]),
        vec![Activity {
            arn: MANUAL.into(),
            kind: ActivityKind::ManualTask,
        }],
    );
    assert_eq!(dispatch_all(&clients, BUDGET).await.unwrap().failed_back, 1);
    assert_eq!(failure.num_calls(), 1);
    common::report(
        "guarantees",
        "activity-failed-back",
        json!({"guarantee": "an activity task is never dropped: one that cannot be handed on is failed back (SendTaskFailure)",
               "test": "activities::a_task_that_cannot_be_handed_on_is_failed_back_not_dropped"}),
    );
}

/// EventBridge Scheduler delivers at least once: two dispatcher runs at the same time (a duplicate
/// delivery) share one task between them as Step Functions hands it to one poller only, so it is
/// emailed once.
#[tokio::test]
async fn a_duplicated_schedule_hands_each_task_on_once() {
    let task = mock!(Sfn::get_activity_task)
        .sequence()
        .output(|| {
            GetActivityTaskOutput::builder()
                .task_token(TOKEN)
                .input(r#"{"taskName":"Rotate the keys"}"#)
                .build()
        })
        .output(|| GetActivityTaskOutput::builder().build())
        .repeatedly()
        .build();
    let (put, beat, email) = (put(), heartbeat(), emailed());
    let clients = manual_tasks(&task, &put, &email, &beat);
    let (first, second) = tokio::join!(
        dispatch_all(&clients, BUDGET),
        dispatch_all(&clients, BUDGET)
    );
    assert_eq!(first.unwrap().dispatched + second.unwrap().dispatched, 1);
    assert_eq!(email.num_calls(), 1);
    common::report(
        "guarantees",
        "schedule-duplicates",
        json!({"guarantee": "duplicate deliveries start no duplicate work: EventBridge schedule (activity dispatcher)",
               "test": "activities::a_duplicated_schedule_hands_each_task_on_once"}),
    );
}

#[tokio::test]
async fn polling_stops_before_the_lambda_deadline() {
    let task = one_task(MANUAL, r#"{"taskName":"x"}"#);
    let clients = dispatcher(
        approvals(&[], &[], &[&task]),
        vec![Activity {
            arn: MANUAL.into(),
            kind: ActivityKind::ManualTask,
        }],
    );
    assert_eq!(
        dispatch_all(&clients, Duration::from_secs(30))
            .await
            .unwrap(),
        Output::default()
    );
    assert_eq!(
        task.num_calls(),
        0,
        "no long poll started without time to finish it"
    );
}

fn stored_job(status: &'static str) -> Rule {
    mock!(DynamoDb::get_item).then_output(move || {
        let request = json!({"kind": "externalJob", "title": "External job: Create VPC", "taskName": "Create VPC", "requestedBy": "x"});
        GetItemOutput::builder()
            .item("id", AttributeValue::S(approval_id(&key(), TOKEN)))
            .item("taskToken", AttributeValue::S(TOKEN.into()))
            .item("status", AttributeValue::S(status.into()))
            .item("createdAt", AttributeValue::N("1".into()))
            .item("expiresAt", AttributeValue::N("4000000000".into()))
            .item("request", AttributeValue::S(request.to_string()))
            .build()
    })
}

async fn report(clients: &approval_api::Deps, link: &str, body: Value) -> (u16, Value) {
    let path_and_query = link.trim_start_matches("https://api.example/v1");
    let (path, query) = path_and_query.split_once('?').unwrap();
    let params: std::collections::HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let request = lambda_http::http::Request::builder()
        .method("POST")
        .uri(path_and_query)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .unwrap()
        .with_query_string_parameters(params)
        .with_raw_http_path(path);
    let response = approval_api::handle(clients, request).await.unwrap();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        _ => Value::Null,
    };
    (response.status().as_u16(), body)
}

#[tokio::test]
async fn an_external_job_reports_heartbeats_and_its_result_once() {
    let id = approval_id(&key(), TOKEN);
    let link = callback_link("https://api.example/v1", &key(), &id, 4_000_000_000);
    let (get, beat) = (stored_job("pending"), heartbeat());
    let update = mock!(DynamoDb::update_item)
        .sequence()
        .output(|| UpdateItemOutput::builder().build())
        .error(|| {
            aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder().build(),
            )
        })
        .build();
    let success = mock!(Sfn::send_task_success)
        .match_requests(|r| {
            r.task_token() == Some(TOKEN) && r.output() == Some(r#"{"vpcId":"vpc-1"}"#)
        })
        .then_output(|| SendTaskSuccessOutput::builder().build());
    // The same approval page the approvals' tests use takes the jobs' results.
    let clients = page(&[&get, &update], &[&beat, &success]);

    assert_eq!(
        report(&clients, &link, json!({"status": "RUNNING"}))
            .await
            .0,
        202
    );
    assert_eq!(beat.num_calls(), 1);
    let (status, body) = report(
        &clients,
        &link,
        json!({"status": "SUCCEEDED", "output": {"vpcId": "vpc-1"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(success.num_calls(), 1);
    assert_eq!(
        report(&clients, &link, json!({"status": "FAILED"})).await.0,
        409,
        "only once"
    );

    let forged = link.replace("sig=", "sig=00");
    assert_eq!(
        report(&clients, &forged, json!({"status": "SUCCEEDED"}))
            .await
            .0,
        403
    );
    assert_eq!(
        report(&clients, &link, json!({"status": "MAYBE"})).await.0,
        400
    );
}
