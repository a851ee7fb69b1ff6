//! Approvals against aws-smithy-mocks: SES failure, the second decision losing the conditional
//! write, a decision arriving after the task timed out, GET never acting, and no task token in the
//! email, the link or the logs.

use crate::common;
use std::collections::HashMap;

use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client as DynamoDb;
use aws_sdk_sesv2::operation::send_email::SendEmailOutput;
use aws_sdk_sesv2::Client as Ses;
use aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput;
use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureOutput;
use aws_sdk_sfn::operation::send_task_success::{SendTaskSuccessError, SendTaskSuccessOutput};
use aws_sdk_sfn::types::{HistoryEventType, TaskSucceededEventDetails};
use aws_sdk_sfn::Client as Sfn;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use stackgate::approval::{approval_id, approval_link, callback_link, SigningKey};
use stackgate::aws::ssm::SigningKeySource;
use stackgate::metrics;
use stackgate::tasks::{approval_api, approval_emailer};

use super::approval_emailer::{emailer, emailer_event, put_rule};

pub(crate) const TOKEN: &str = "AAAAKgAAAAIAAAAAAAAAAb1uyUs+secret/task/token==";
const SECRET: &str = "a-signing-key-of-at-least-32-characters-for-tests";

pub(crate) fn key() -> SigningKey {
    SigningKey::new(SECRET).unwrap()
}

pub(crate) fn keys() -> SigningKeySource {
    SigningKeySource::ready(stackgate::approval::KeyRing::single(key()))
}

/// The approval page's dependencies.
pub(crate) fn clients(dynamodb: &[&Rule], sfn: &[&Rule]) -> approval_api::Deps {
    approval_api::Deps {
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, dynamodb),
        sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, sfn),
        table: "approvals".into(),
        key: keys(),
    }
}

/// The emailer's dependencies.
fn stored_item(status: &str, expires_at: u64) -> HashMap<String, AttributeValue> {
    let request = json!({"kind": "deployment", "title": "Approve?", "stackName": "prod-app", "requestedBy": "exec-1"});
    HashMap::from([
        (
            "id".to_string(),
            AttributeValue::S(approval_id(&key(), TOKEN)),
        ),
        ("taskToken".to_string(), AttributeValue::S(TOKEN.into())),
        ("status".to_string(), AttributeValue::S(status.into())),
        ("createdAt".to_string(), AttributeValue::N("1000".into())),
        (
            "expiresAt".to_string(),
            AttributeValue::N(expires_at.to_string()),
        ),
        (
            "request".to_string(),
            AttributeValue::S(request.to_string()),
        ),
    ])
}

fn get_rule(status: &'static str, expires_at: u64) -> Rule {
    mock!(DynamoDb::get_item).then_output(move || {
        GetItemOutput::builder()
            .set_item(Some(stored_item(status, expires_at)))
            .build()
    })
}

const FAR: u64 = 4_000_000_000;

/// The link emailed to the configured approver.
const APPROVER: &str = "ops@example.com";

fn link() -> String {
    let id = approval_id(&key(), TOKEN);
    approval_link("https://api.example/v1", &key(), &id, FAR, APPROVER)
}

/// A request to the page, as API Gateway delivers it (path without the stage).
fn page_request(method: &str, link: &str, form: Option<&str>) -> Request {
    let path_and_query = link.trim_start_matches("https://api.example/v1");
    let (path, query) = path_and_query.split_once('?').unwrap();
    let mut request = lambda_http::http::Request::builder()
        .method(method)
        .uri(path_and_query);
    if form.is_some() {
        request = request.header("content-type", "application/x-www-form-urlencoded");
    }
    let request = request
        .body(form.map_or(Body::Empty, |f| Body::Text(f.to_string())))
        .unwrap();
    use lambda_http::RequestExt;
    let params: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap();
    request
        .with_query_string_parameters(params)
        .with_raw_http_path(path)
}

async fn page(clients: &approval_api::Deps, request: Request) -> (u16, String) {
    let response = approval_api::handle(clients, request).await.unwrap();
    let body = match response.body() {
        Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    (response.status().as_u16(), body)
}

#[tokio::test]
async fn get_shows_the_page_and_never_acts() {
    let get = get_rule("pending", FAR);
    let update = mock!(DynamoDb::update_item).then_output(|| UpdateItemOutput::builder().build());
    let success =
        mock!(Sfn::send_task_success).then_output(|| SendTaskSuccessOutput::builder().build());
    let clients = clients(&[&get, &update], &[&success]);
    let (status, body) = page(&clients, page_request("GET", &link(), None)).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<form method=\"post\""));
    assert!(!body.contains(TOKEN));
    assert_eq!((update.num_calls(), success.num_calls()), (0, 0));
}

#[tokio::test]
async fn a_forged_or_tampered_link_is_refused_before_any_lookup() {
    let get = get_rule("pending", FAR);
    let clients = clients(&[&get], &[]);
    let tampered = link().replace(&format!("exp={FAR}"), &format!("exp={}", FAR + 1));
    assert_eq!(
        page(&clients, page_request("GET", &tampered, None)).await.0,
        403
    );
    let form = "decision=approve&approver=Mallory";
    assert_eq!(
        page(&clients, page_request("POST", &tampered, Some(form)))
            .await
            .0,
        403
    );
    assert_eq!(get.num_calls(), 0);
}

#[tokio::test]
async fn an_approval_is_delivered_once_and_the_second_decision_loses_the_conditional_write() {
    let get = get_rule("pending", FAR);
    let update = mock!(DynamoDb::update_item)
        .match_requests(|r| r.condition_expression().is_some())
        .sequence()
        .output(|| UpdateItemOutput::builder().build())
        .error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder().build(),
            )
        })
        .build();
    let success = mock!(Sfn::send_task_success)
        .match_requests(|r| {
            let output: Value = serde_json::from_str(r.output().unwrap()).unwrap();
            r.task_token() == Some(TOKEN)
                && output["approved"] == true
                && output["approvedBy"] == APPROVER
        })
        .then_output(|| SendTaskSuccessOutput::builder().build());
    let clients = clients(&[&get, &update], &[&success]);
    let capture = metrics::Capture::start();
    let (status, body) = page(
        &clients,
        page_request("POST", &link(), Some("decision=approve&approver=Ana")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        capture.summaries(),
        [
            "ApprovalsDecided Kind=Deployment Decision=APPROVED",
            "ApprovalAgeSeconds Kind=Deployment"
        ]
    );
    assert!(
        body.contains("Approved by ops@example.com"),
        "the link's recipient decided, whatever the form said: {body}"
    );

    // The second POST races past the read (still "pending" in this mock) but loses the write.
    let (status, _) = page(
        &clients,
        page_request("POST", &link(), Some("decision=reject&approver=Bo")),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(success.num_calls(), 1, "delivered once");
    assert_eq!(capture.summaries().len(), 2, "and counted once");
}

/// The decision's write reached DynamoDB but its answer was lost, and the SDK's retry lost the
/// conditional write to that very write (its nonce is there): the decision is this call's and is
/// delivered. A concurrent second submission of the same link, same approver, same decision and
/// same second, finds another call's nonce and is refused: a decision is delivered once.
#[tokio::test]
async fn a_decision_whose_write_answer_was_lost_is_delivered_and_a_double_submit_is_not() {
    use std::sync::{Arc, Mutex};
    let nonce: Arc<Mutex<Option<AttributeValue>>> = Arc::default();
    let seen = nonce.clone();
    let update = mock!(DynamoDb::update_item)
        .match_requests(move |r| {
            let written = r
                .expression_attribute_values()
                .and_then(|v| v.get(":nonce"))
                .cloned();
            *seen.lock().unwrap() = written;
            true
        })
        .then_error(|| {
            UpdateItemError::ConditionalCheckFailedException(
                aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder().build(),
            )
        });
    let decided = |nonce: AttributeValue| {
        let mut item = stored_item("approved", FAR);
        item.insert("decidedBy".into(), AttributeValue::S(APPROVER.into()));
        item.insert("decisionId".into(), nonce);
        GetItemOutput::builder().set_item(Some(item)).build()
    };
    let own = nonce.clone();
    let get = mock!(DynamoDb::get_item)
        .sequence()
        .output(|| {
            GetItemOutput::builder()
                .set_item(Some(stored_item("pending", FAR)))
                .build()
        })
        .output(move || decided(own.lock().unwrap().clone().unwrap()))
        .build();
    let success =
        mock!(Sfn::send_task_success).then_output(|| SendTaskSuccessOutput::builder().build());
    let clients = clients(&[&get, &update], &[&success]);
    let (status, body) = page(
        &clients,
        page_request("POST", &link(), Some("decision=approve")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(success.num_calls(), 1);

    // The other submission: the record holds the first call's nonce.
    let other = mock!(DynamoDb::get_item)
        .sequence()
        .output(|| {
            GetItemOutput::builder()
                .set_item(Some(stored_item("pending", FAR)))
                .build()
        })
        .output(move || decided(AttributeValue::S("another-call".into())))
        .output(move || decided(AttributeValue::S("another-call".into())))
        .build();
    let refused =
        mock!(Sfn::send_task_success).then_output(|| SendTaskSuccessOutput::builder().build());
    let clients = self::clients(&[&other, &update], &[&refused]);
    let (status, _) = page(
        &clients,
        page_request("POST", &link(), Some("decision=approve")),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(refused.num_calls(), 0);
}

const EXECUTION: &str = "arn:aws:states:us-east-1:123456789012:execution:SafeDeploy:api-1";

/// A pending approval whose workflow named its execution.
fn waiting_rule() -> Rule {
    mock!(DynamoDb::get_item).then_output(|| {
        let mut item = stored_item("pending", FAR);
        item.insert("executionArn".into(), AttributeValue::S(EXECUTION.into()));
        GetItemOutput::builder().set_item(Some(item)).build()
    })
}

/// An execution's history, newest first, as GetExecutionHistory returns it.
fn history(events: Vec<aws_sdk_sfn::types::HistoryEvent>) -> GetExecutionHistoryOutput {
    GetExecutionHistoryOutput::builder()
        .set_events(Some(events))
        .build()
        .unwrap()
}

fn event(id: i64, kind: HistoryEventType) -> aws_sdk_sfn::types::builders::HistoryEventBuilder {
    aws_sdk_sfn::types::HistoryEvent::builder()
        .id(id)
        .r#type(kind)
        .timestamp(aws_smithy_types::DateTime::from_secs(1_000))
}

/// A task ending with `output`, as the history records a SendTaskSuccess (re-serialised: Step
/// Functions does not keep the caller's spacing or key order).
fn succeeded(output: &str) -> aws_sdk_sfn::types::HistoryEvent {
    let reordered: serde_json::Map<String, Value> = serde_json::from_str(output).unwrap();
    let mut keys: Vec<_> = reordered.into_iter().collect();
    keys.reverse();
    let text =
        serde_json::to_string_pretty(&keys.into_iter().collect::<serde_json::Map<_, _>>()).unwrap();
    event(7, HistoryEventType::TaskSucceeded)
        .task_succeeded_event_details(
            TaskSucceededEventDetails::builder()
                .resource("invoke.waitForTaskToken")
                .resource_type("lambda")
                .output(text)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap()
}

/// The reply to SendTaskSuccess was lost after Step Functions took the answer; the SDK's retry
/// found the task gone. The execution's history holds this very answer, so the decision was
/// delivered: the page says so and the approval is not marked expired.
#[tokio::test]
async fn an_answer_whose_reply_was_lost_is_found_in_the_history_and_not_called_expired() {
    use std::sync::{Arc, Mutex};
    let sent: Arc<Mutex<String>> = Arc::default();
    let seen = sent.clone();
    let get = waiting_rule();
    let update = mock!(DynamoDb::update_item).then_output(|| UpdateItemOutput::builder().build());
    let gone = mock!(Sfn::send_task_success)
        .match_requests(move |r| {
            *seen.lock().unwrap() = r.output().unwrap_or_default().to_string();
            true
        })
        .then_error(|| {
            SendTaskSuccessError::TaskDoesNotExist(
                aws_sdk_sfn::types::error::TaskDoesNotExist::builder().build(),
            )
        });
    let recorded = mock!(Sfn::get_execution_history)
        .match_requests(|r| r.execution_arn() == Some(EXECUTION) && r.reverse_order() == Some(true))
        .then_output(move || {
            history(vec![
                event(8, HistoryEventType::TaskStateExited).build().unwrap(),
                succeeded(&sent.lock().unwrap()),
            ])
        });
    let clients = clients(&[&get, &update], &[&gone, &recorded]);
    let (status, body) = page(
        &clients,
        page_request("POST", &link(), Some("decision=approve")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("The workflow continues"), "{body}");
    assert_eq!(update.num_calls(), 1, "decided, never marked expired");
    assert_eq!(recorded.num_calls(), 1);
    common::report(
        "guarantees",
        "approval-lost-reply",
        json!({"guarantee": "a decision Step Functions took is reported as delivered even when its reply was lost: the waiting execution's history is the judge, not the retry's 'task gone'",
               "test": "approvals::an_answer_whose_reply_was_lost_is_found_in_the_history_and_not_called_expired"}),
    );
}

/// The task is gone and the history holds no answer of this decision (the task timed out, or
/// another answer ended it): the approval is expired, as before. A failed call whose answer the
/// history holds (a rejection, its reply lost every time) is delivered, not undone.
#[tokio::test]
async fn only_this_decisions_own_answer_in_the_history_counts_as_delivered() {
    let get = waiting_rule();
    let update = mock!(DynamoDb::update_item).then_output(|| UpdateItemOutput::builder().build());
    let gone = mock!(Sfn::send_task_success).then_error(|| {
        SendTaskSuccessError::TaskTimedOut(
            aws_sdk_sfn::types::error::TaskTimedOut::builder().build(),
        )
    });
    let someone_elses = mock!(Sfn::get_execution_history).then_output(|| {
        history(vec![
            event(9, HistoryEventType::TaskTimedOut).build().unwrap(),
            succeeded(r#"{"approved": true, "approvedBy": "mallory@example.com", "approvedAt": "2026-01-01T00:00:00Z", "comment": null}"#),
        ])
    });
    let clients = clients(&[&get, &update], &[&gone, &someone_elses]);
    let (status, body) = page(
        &clients,
        page_request("POST", &link(), Some("decision=approve")),
    )
    .await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(update.num_calls(), 2, "decided, then marked expired");
    assert_eq!(
        someone_elses.num_calls(),
        4,
        "read again while the task's end may lag"
    );

    // A rejection whose every reply was lost: the call fails, the history holds the answer.
    use std::sync::{Arc, Mutex};
    let sent: Arc<Mutex<(String, String)>> = Arc::default();
    let seen = sent.clone();
    let revert = mock!(DynamoDb::update_item)
        .match_requests(|r| r.condition_expression().is_none())
        .then_output(|| UpdateItemOutput::builder().build());
    let decide = mock!(DynamoDb::update_item)
        .match_requests(|r| r.condition_expression().is_some())
        .then_output(|| UpdateItemOutput::builder().build());
    let unreachable = mock!(Sfn::send_task_failure)
        .match_requests(move |r| {
            let answer = (r.error().unwrap_or_default(), r.cause().unwrap_or_default());
            *seen.lock().unwrap() = (answer.0.to_string(), answer.1.to_string());
            true
        })
        .then_http_response(|| {
            aws_sdk_sfn::config::http::HttpResponse::new(
                503.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from("{}"),
            )
        });
    let rejection = mock!(Sfn::get_execution_history).then_output(move || {
        let (error, cause) = sent.lock().unwrap().clone();
        history(vec![event(7, HistoryEventType::TaskFailed)
            .task_failed_event_details(
                aws_sdk_sfn::types::TaskFailedEventDetails::builder()
                    .resource("invoke.waitForTaskToken")
                    .resource_type("lambda")
                    .error(error)
                    .cause(cause)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()])
    });
    let clients = self::clients(&[&get, &decide, &revert], &[&unreachable, &rejection]);
    let (status, body) = page(
        &clients,
        page_request("POST", &link(), Some("decision=reject&comment=not+today")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("The workflow stops"), "{body}");
    assert_eq!(revert.num_calls(), 0, "a delivered decision is not undone");
    assert_eq!(rejection.num_calls(), 1);
}

#[tokio::test]
async fn decided_and_expired_requests_are_409_and_410() {
    let decided = get_rule("approved", FAR);
    let clients_decided = clients(&[&decided], &[]);
    assert_eq!(
        page(&clients_decided, page_request("GET", &link(), None))
            .await
            .0,
        409
    );
    let expired = get_rule("pending", 1);
    let clients_expired = clients(&[&expired], &[]);
    let (status, body) = page(
        &clients_expired,
        page_request("POST", &link(), Some("decision=approve&approver=Ana")),
    )
    .await;
    assert_eq!(status, 410);
    assert!(body.contains("expired"), "{body}");
    let missing = mock!(DynamoDb::get_item).then_output(|| GetItemOutput::builder().build());
    let clients_missing = clients(&[&missing], &[]);
    assert_eq!(
        page(&clients_missing, page_request("GET", &link(), None))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_decision_after_the_task_timed_out_says_so() {
    let get = get_rule("pending", FAR);
    let update = mock!(DynamoDb::update_item).then_output(|| UpdateItemOutput::builder().build());
    let timed_out = mock!(Sfn::send_task_success).then_error(|| {
        SendTaskSuccessError::TaskTimedOut(
            aws_sdk_sfn::types::error::TaskTimedOut::builder().build(),
        )
    });
    let clients = clients(&[&get, &update], &[&timed_out]);
    let (status, body) = page(
        &clients,
        page_request("POST", &link(), Some("decision=approve&approver=Ana")),
    )
    .await;
    assert_eq!(status, 410, "{body}");
    assert!(body.contains("stopped waiting"), "{body}");
    assert_eq!(update.num_calls(), 2, "decided, then marked expired");
}

#[tokio::test]
async fn a_rejection_fails_the_task_with_who_and_why() {
    let get = get_rule("pending", FAR);
    let update = mock!(DynamoDb::update_item).then_output(|| UpdateItemOutput::builder().build());
    let failure = mock!(Sfn::send_task_failure)
        .match_requests(|r| {
            r.error() == Some("ChangeSetRejected")
                && r.cause().is_some_and(|c| {
                    c.starts_with("rejected by ops@example.com at ") && c.ends_with(": too risky")
                })
        })
        .then_output(|| SendTaskFailureOutput::builder().build());
    let clients = clients(&[&get, &update], &[&failure]);
    let (status, _) = page(
        &clients,
        page_request(
            "POST",
            &link(),
            Some("decision=reject&approver=Bo&comment=too+risky"),
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(failure.num_calls(), 1);
}

#[tokio::test]
async fn no_task_token_reaches_the_logs() {
    let captured = common::CapturedLogs::start();

    let put = put_rule();
    let send = mock!(Ses::send_email).then_output(|| SendEmailOutput::builder().build());
    approval_emailer::handle(&emailer(&[&put], &[&send]), emailer_event())
        .await
        .unwrap();
    let get = get_rule("pending", FAR);
    let update = mock!(DynamoDb::update_item).then_output(|| UpdateItemOutput::builder().build());
    let success =
        mock!(Sfn::send_task_success).then_output(|| SendTaskSuccessOutput::builder().build());
    let clients = clients(&[&get, &update], &[&success]);
    page(&clients, page_request("GET", &link(), None)).await;
    page(
        &clients,
        page_request("POST", &link(), Some("decision=approve&approver=Ana")),
    )
    .await;

    let logs = captured.text();
    assert!(
        logs.contains(&approval_id(&key(), TOKEN)),
        "the approval id is logged: {logs}"
    );
    assert!(
        !logs.contains(TOKEN) && !logs.contains("AAAAKg"),
        "the task token leaked: {logs}"
    );
    assert!(!logs.contains(SECRET));
}

/// Step Functions cannot be told (5xx after the SDK's retries): the decision is undone and the
/// page says to try again, so the waiting task is not left without its answer; a second POST
/// then decides and delivers.
#[tokio::test]
async fn a_decision_that_cannot_be_delivered_is_undone_so_it_can_be_taken_again() {
    let get = get_rule("pending", FAR);
    let decide = mock!(DynamoDb::update_item)
        .match_requests(|r| r.condition_expression().is_some())
        .then_output(|| UpdateItemOutput::builder().build());
    let revert = mock!(DynamoDb::update_item)
        .match_requests(|r| {
            r.condition_expression().is_none()
                && r.update_expression()
                    .is_some_and(|e| e.contains("REMOVE decidedBy"))
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let unreachable = mock!(Sfn::send_task_success).then_http_response(|| {
        aws_sdk_sfn::config::http::HttpResponse::new(
            503.try_into().unwrap(),
            aws_smithy_types::body::SdkBody::from("{}"),
        )
    });
    let clients = clients(&[&get, &decide, &revert], &[&unreachable]);
    let response = approval_api::handle(
        &clients,
        page_request("POST", &link(), Some("decision=approve&approver=Ana")),
    )
    .await;
    let status = match &response {
        Ok(r) => r.status().as_u16(),
        Err(_) => 500,
    };
    assert!(
        status >= 500,
        "an undelivered decision is not a success: {status}"
    );
    assert_eq!(revert.num_calls(), 1, "the decision was undone");

    let delivered =
        mock!(Sfn::send_task_success).then_output(|| SendTaskSuccessOutput::builder().build());
    let clients = self::clients(&[&get, &decide], &[&delivered]);
    let (status, body) = page(
        &clients,
        page_request("POST", &link(), Some("decision=approve&approver=Ana")),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(delivered.num_calls(), 1);
    common::report(
        "guarantees",
        "approval-delivery-failure",
        json!({"guarantee": "an approval task is never dropped: a decision Step Functions did not receive is undone and can be taken again",
               "test": "approvals::a_decision_that_cannot_be_delivered_is_undone_so_it_can_be_taken_again"}),
    );
}

/// A stored request of another kind than the link answers: a job-result link for an approval, or a
/// decision link for an external job.
fn stored_of_kind(kind: &str) -> Rule {
    let request = match kind {
        "externalJob" => {
            json!({"kind": "externalJob", "taskName": "deploy-db", "requestedBy": "x"})
        }
        _ => json!({"kind": "deployment", "stackName": "prod-app", "requestedBy": "x"}),
    };
    let mut item = stored_item("pending", FAR);
    item.insert("request".into(), AttributeValue::S(request.to_string()));
    mock!(DynamoDb::get_item).then_output(move || {
        GetItemOutput::builder()
            .set_item(Some(item.clone()))
            .build()
    })
}

fn job_request(link: &str, body: Value) -> Request {
    let path_and_query = link.trim_start_matches("https://api.example/v1");
    let (path, query) = path_and_query.split_once('?').unwrap();
    let params: HashMap<String, String> = serde_urlencoded::from_str(query).unwrap();
    use lambda_http::RequestExt;
    lambda_http::http::Request::builder()
        .method("POST")
        .uri(path_and_query)
        .header("content-type", "application/json")
        .body(Body::Text(body.to_string()))
        .unwrap()
        .with_query_string_parameters(params)
        .with_raw_http_path(path)
}

#[tokio::test]
async fn a_link_of_one_kind_is_refused_on_every_other_route() {
    let id = approval_id(&key(), TOKEN);
    let success =
        mock!(Sfn::send_task_success).then_output(|| SendTaskSuccessOutput::builder().build());
    let update = mock!(DynamoDb::update_item).then_output(|| UpdateItemOutput::builder().build());
    let approval = stored_of_kind("deployment");
    let clients_approval = clients(&[&approval, &update], &[&success]);
    // An approval link's exp/kid/sig posted to the job-result route, with a made-up output.
    let approval_link = link();
    let as_job = approval_link.replace(&format!("/approvals/{id}"), &format!("/tasks/{id}/result"));
    let forged_output = json!({"status": "SUCCEEDED", "output": {"approved": true, "approvedBy": "nobody@example.com"}});
    let (status, body) = page(
        &clients_approval,
        job_request(&as_job, forged_output.clone()),
    )
    .await;
    assert_eq!(status, 403, "{body}");

    // A job-result link on the approval page.
    let job = callback_link("https://api.example/v1", &key(), &id, FAR);
    let as_page = format!(
        "{}&to=ops%40example.com",
        job.replace(&format!("/tasks/{id}/result"), &format!("/approvals/{id}"))
    );
    assert_eq!(
        page(&clients_approval, page_request("GET", &as_page, None))
            .await
            .0,
        403
    );
    assert_eq!(
        page(
            &clients_approval,
            page_request("POST", &as_page, Some("decision=approve"))
        )
        .await
        .0,
        403
    );

    // A genuine job-result link for a stored approval: the stored kind is checked too.
    let (status, body) = page(&clients_approval, job_request(&job, forged_output)).await;
    assert_eq!(status, 403, "{body}");
    // And a genuine decision link for a stored external job.
    let external = stored_of_kind("externalJob");
    let clients_job = clients(&[&external, &update], &[&success]);
    assert_eq!(
        page(
            &clients_job,
            page_request("POST", &link(), Some("decision=approve"))
        )
        .await
        .0,
        403
    );
    assert_eq!(
        (update.num_calls(), success.num_calls()),
        (0, 0),
        "nothing decided"
    );
}

#[tokio::test]
async fn a_link_for_another_recipient_or_with_a_typed_in_approver_decides_nothing_for_them() {
    let get = get_rule("pending", FAR);
    let update = mock!(DynamoDb::update_item)
        .match_requests(|r| {
            r.expression_attribute_values()
                .and_then(|v| {
                    v.values()
                        .find_map(|a| a.as_s().ok().filter(|s| s.contains('@')))
                })
                .is_some_and(|who| who == APPROVER)
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let success =
        mock!(Sfn::send_task_success).then_output(|| SendTaskSuccessOutput::builder().build());
    let clients = clients(&[&get, &update], &[&success]);
    let changed = link().replace("to=ops%40example%2Ecom", "to=cto%40example%2Ecom");
    assert_ne!(changed, link());
    assert_eq!(
        page(
            &clients,
            page_request("POST", &changed, Some("decision=approve"))
        )
        .await
        .0,
        403,
        "the recipient is signed"
    );
    let (status, body) = page(
        &clients,
        page_request(
            "POST",
            &link(),
            Some("decision=approve&approver=CTO+(really%3A+anyone)"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains("CTO"), "{body}");
    assert_eq!(
        update.num_calls(),
        1,
        "recorded as decided by the recipient"
    );
}

/// The signing key parameter at `version`, as SSM answers GetParameter.
fn key_version(version: i64) -> aws_sdk_ssm::operation::get_parameter::GetParameterOutput {
    aws_sdk_ssm::operation::get_parameter::GetParameterOutput::builder()
        .parameter(
            aws_sdk_ssm::types::Parameter::builder()
                .value(format!(
                    "signing-key-version-{version}-of-at-least-32-characters"
                ))
                .version(version)
                .build(),
        )
        .build()
}

const KEY_PARAMETER: &str = "/stackgate/approval-signing-key";

#[tokio::test]
async fn a_rotated_key_reaches_a_warm_function_and_old_links_work_until_the_next_rotation() {
    use stackgate::approval::{verify_link, LinkKind, PresentedLink};
    use stackgate::aws::ssm::SigningKeySource;
    // The parameter is rotated twice while the function runs: versions 1, 2, 3.
    let current = mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(|r| r.name() == Some(KEY_PARAMETER))
        .sequence()
        .output(|| key_version(1))
        .output(|| key_version(2))
        .output(|| key_version(3))
        .build();
    let v1 = mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(|r| r.name() == Some("/stackgate/approval-signing-key:1"))
        .then_output(|| key_version(1));
    let v2 = mock!(aws_sdk_ssm::Client::get_parameter)
        .match_requests(|r| r.name() == Some("/stackgate/approval-signing-key:2"))
        .then_output(|| key_version(2));
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&current, &v1, &v2]);
    // A zero time limit: every use reads SSM again (the functions default to 300 s).
    let source = SigningKeySource::parameter(ssm, KEY_PARAMETER.into(), std::time::Duration::ZERO);

    let keys = source.keys().await.unwrap();
    assert_eq!((keys.current.id(), keys.previous.is_none()), ("1", true));
    let sent = approval_link("https://x", &keys.current, "ab12", FAR, APPROVER);
    let parts: HashMap<String, String> =
        serde_urlencoded::from_str(sent.split_once('?').unwrap().1).unwrap();
    assert_eq!(parts["kid"], "1");
    let presented = PresentedLink {
        exp: parts["exp"].clone(),
        kid: parts["kid"].clone(),
        to: parts["to"].clone(),
        sig: parts["sig"].clone(),
    };

    // First rotation: new links are signed with version 2; the link already sent still works.
    let keys = source.keys().await.unwrap();
    assert_eq!(keys.current.id(), "2");
    assert_eq!(
        verify_link(&keys, LinkKind::Decision, "ab12", &presented).as_deref(),
        Some(APPROVER)
    );
    // Second rotation: version 1 is no longer accepted.
    let keys = source.keys().await.unwrap();
    assert_eq!(keys.current.id(), "3");
    assert_eq!(
        verify_link(&keys, LinkKind::Decision, "ab12", &presented),
        None
    );
    assert_eq!((v1.num_calls(), v2.num_calls()), (1, 1));
}

#[tokio::test]
async fn keys_are_read_once_within_their_time_limit_and_kept_when_ssm_fails() {
    use stackgate::aws::ssm::SigningKeySource;
    let once = mock!(aws_sdk_ssm::Client::get_parameter).then_output(|| key_version(1));
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&once]);
    let warm = SigningKeySource::parameter(
        ssm,
        KEY_PARAMETER.into(),
        std::time::Duration::from_secs(300),
    );
    for _ in 0..3 {
        assert_eq!(warm.keys().await.unwrap().current.id(), "1");
    }
    assert_eq!(once.num_calls(), 1, "read once within the time limit");

    let failing = mock!(aws_sdk_ssm::Client::get_parameter)
        .sequence()
        .output(|| key_version(1))
        .error(|| {
            aws_sdk_ssm::operation::get_parameter::GetParameterError::InternalServerError(
                aws_sdk_ssm::types::error::InternalServerError::builder().build(),
            )
        })
        .times(8)
        .build();
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&failing], |c| c
        .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled()));
    let due = SigningKeySource::parameter(ssm, KEY_PARAMETER.into(), std::time::Duration::ZERO);
    assert_eq!(due.keys().await.unwrap().current.id(), "1");
    assert_eq!(
        due.keys().await.unwrap().current.id(),
        "1",
        "SSM failing at a refresh: the keys read before stay in use"
    );
    assert_eq!(failing.num_calls(), 2);
}
