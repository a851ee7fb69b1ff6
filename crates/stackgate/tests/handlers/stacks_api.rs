//! The HTTP API against aws-smithy-mocks: 202 only after StartExecution succeeded, idempotent
//! replays, throttling, stack state with its last failure, delete refusals, execution status.

use crate::common;
use std::time::Duration;

use aws_sdk_cloudformation::error::ErrorMetadata;
use aws_sdk_cloudformation::operation::describe_stack_events::DescribeStackEventsOutput;
use aws_sdk_cloudformation::operation::describe_stacks::{
    DescribeStacksError, DescribeStacksOutput,
};
use aws_sdk_cloudformation::types::{ResourceStatus, Stack, StackEvent, StackStatus, Tag};
use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_sfn::operation::describe_execution::{DescribeExecutionError, DescribeExecutionOutput};
use aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput;
use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
use aws_sdk_sfn::operation::stop_execution::StopExecutionOutput;
use aws_sdk_sfn::types::{
    ExecutionStatus, HistoryEvent, HistoryEventType, StateEnteredEventDetails,
    StateExitedEventDetails,
};
use aws_sdk_sfn::Client as Sfn;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use lambda_http::{Body, Request};
use serde_json::{json, Value};
use stackgate::api::ApiConfig;
use stackgate::guardrails::Guardrails;
use stackgate::tasks::stacks_api::{handle, Deps, Leases};

const DEPLOY: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:SafeDeploy";
const DELETE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:SafeDelete";
const RELEASE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:Release";
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/prod-app/1";

fn clients(sfn_rules: &[&Rule], cfn_rules: &[&Rule]) -> Deps {
    let retry = || {
        aws_sdk_sfn::config::retry::RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1))
    };
    Deps {
        sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, sfn_rules, |c| c
            .retry_config(retry())),
        cloudformation: mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, cfn_rules),
        deploy_machine_arn: DEPLOY.into(),
        delete_machine_arn: DELETE.into(),
        vending_machine_arn: None,
        release_machine_arn: Some(RELEASE.into()),
        config: ApiConfig {
            guardrails: guardrails(&["dev", "prod"], &["templates"], &[]),
            max_body_bytes: 64 * 1024,
            plan_seconds: 3600,
            targets: Default::default(),
            home_region: "us-east-1".into(),
        },
        template_url_base: None,
        region: "us-east-1".into(),
        refuse_busy: None,
        s3: None,
    }
}

fn guardrails(environments: &[&str], buckets: &[&str], hosts: &[&str]) -> Guardrails {
    let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect();
    Guardrails::new(list(environments), list(buckets), None, list(hosts), vec![]).unwrap()
}

fn request(method: &str, path: &str, body: Option<Value>, key: Option<&str>) -> Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method)
        .uri(path);
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    if let Some(key) = key {
        builder = builder.header("idempotency-key", key);
    }
    builder
        .body(body.map_or(Body::Empty, |b| Body::Text(b.to_string())))
        .unwrap()
}

async fn call(clients: &Deps, request: Request) -> (u16, Value, lambda_http::http::HeaderMap) {
    let response = handle(clients, request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match response.body() {
        Body::Text(text) => serde_json::from_str(text).unwrap(),
        Body::Binary(bytes) => serde_json::from_slice(bytes).unwrap(),
        _ => Value::Null,
    };
    (status, body, headers)
}

fn create_body() -> Value {
    json!({"environmentName": "prod", "stackName": "app", "templateUrl": "https://templates.s3.amazonaws.com/app.yaml"})
}

/// The workflow input the API starts for `create_body()`: the body and who asked (no API Gateway
/// context in these requests, so "anonymous").
fn started_input() -> Value {
    let mut input = create_body();
    input["requestedBy"] = json!("anonymous");
    input
}

fn started() -> StartExecutionOutput {
    StartExecutionOutput::builder()
        .execution_arn(format!(
            "{}:x",
            DEPLOY.replace(":stateMachine:", ":execution:")
        ))
        .start_date(aws_smithy_types::DateTime::from_secs(0))
        .build()
        .unwrap()
}

fn described(input: &str) -> DescribeExecutionOutput {
    DescribeExecutionOutput::builder()
        .execution_arn("arn")
        .state_machine_arn(DEPLOY)
        .status(ExecutionStatus::Running)
        .start_date(aws_smithy_types::DateTime::from_secs(0))
        .input(input)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_create_is_accepted_only_after_start_execution_succeeded() {
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            r.state_machine_arn() == Some(DEPLOY)
                && r.name().is_some_and(|n| n.starts_with("deploy-"))
        })
        .then_output(started);
    let clients = clients(&[&start], &[]);
    let (status, body, headers) = call(
        &clients,
        request("POST", "/stacks", Some(create_body()), None),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let id = body["executionId"].as_str().unwrap();
    assert_eq!(headers["location"], format!("/executions/{id}").as_str());
    assert_eq!(body["statusUrl"], format!("/executions/{id}"));

    let failing = mock!(Sfn::start_execution).then_error(|| {
        StartExecutionError::generic(
            aws_sdk_sfn::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("no")
                .build(),
        )
    });
    let clients = self::clients(&[&failing], &[]);
    let (status, body, headers) = call(
        &clients,
        request("POST", "/stacks", Some(create_body()), None),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(
        body["detail"].as_str().unwrap().contains("not started"),
        "{body}"
    );
}

/// With inline templates on: the body is stored in the staging bucket under its SHA-256 before the
/// execution starts, and the workflow's input names that object, never the template's text.
#[tokio::test]
async fn an_inline_template_is_stored_first_and_only_its_object_is_started() {
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
    const BODY: &str = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n";
    let key = stackgate::guardrails::inline_key(BODY);
    let expected_key = key.clone();
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(move |r| {
            r.bucket() == Some("staging") && r.key() == Some(expected_key.as_str())
        })
        .then_output(|| PutObjectOutput::builder().build());
    let input_key = key.clone();
    let start = mock!(Sfn::start_execution)
        .match_requests(move |r| {
            let input: Value = serde_json::from_str(r.input().unwrap_or("{}")).unwrap();
            input["templateS3Bucket"] == "staging"
                && input["templateS3Key"] == input_key.as_str()
                && input.get("templateBody").is_none()
                && !r.input().unwrap_or_default().contains("AWS::SQS::Queue")
        })
        .then_output(started);
    let inline_on = |s3_rules: &[&Rule], sfn_rules: &[&Rule]| {
        let mut deps = clients(sfn_rules, &[]);
        deps.config.guardrails = deps
            .config
            .guardrails
            .with_inline_templates("staging".into());
        deps.s3 = Some(mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3_rules));
        deps
    };
    let body = json!({"environmentName": "prod", "stackName": "app", "templateBody": BODY});
    for path in ["/stacks", "/plans"] {
        let deps = inline_on(&[&put], &[&start]);
        let (status, answer, _) =
            call(&deps, request("POST", path, Some(body.clone()), None)).await;
        assert_eq!(status, 202, "{path}: {answer}");
    }
    assert_eq!((put.num_calls(), start.num_calls()), (2, 2));

    // Not stored: nothing starts.
    let refused = mock!(aws_sdk_s3::Client::put_object).then_error(|| {
        PutObjectError::generic(
            aws_sdk_s3::error::ErrorMetadata::builder()
                .code("AccessDenied")
                .build(),
        )
    });
    let never = mock!(Sfn::start_execution).then_output(started);
    let deps = inline_on(&[&refused], &[&never]);
    let (status, _, _) = call(&deps, request("POST", "/stacks", Some(body.clone()), None)).await;
    assert!(status >= 500, "{status}");
    assert_eq!(never.num_calls(), 0);

    // Off (the default): 400 naming templateBody, nothing stored or started, the text not repeated.
    let deps = clients(&[&never], &[]);
    let (status, answer, _) = call(&deps, request("POST", "/stacks", Some(body), None)).await;
    assert_eq!(
        (status, answer["field"].as_str()),
        (400, Some("templateBody"))
    );
    assert!(!answer.to_string().contains("SQS"), "{answer}");
    assert_eq!(never.num_calls(), 0);
}

#[tokio::test]
async fn throttled_start_execution_is_retried() {
    let start = mock!(Sfn::start_execution)
        .sequence()
        .error(|| {
            StartExecutionError::generic(
                aws_sdk_sfn::error::ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .build(),
            )
        })
        .times(2)
        .output(started)
        .build();
    let clients = clients(&[&start], &[]);
    let (status, _, _) = call(
        &clients,
        request("POST", "/stacks", Some(create_body()), None),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(start.num_calls(), 3);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_execution_and_never_a_second() {
    let fresh = mock!(Sfn::start_execution).then_output(started);
    let clients_fresh = clients(&[&fresh], &[]);
    let (_, first, _) = call(
        &clients_fresh,
        request("POST", "/stacks", Some(create_body()), Some("order-42")),
    )
    .await;

    let exists = mock!(Sfn::start_execution).then_error(|| {
        StartExecutionError::ExecutionAlreadyExists(
            aws_sdk_sfn::types::error::ExecutionAlreadyExists::builder().build(),
        )
    });
    let same_input =
        mock!(Sfn::describe_execution).then_output(|| described(&started_input().to_string()));
    let clients_replay = clients(&[&exists, &same_input], &[]);
    let (status, replay, _) = call(
        &clients_replay,
        request("POST", "/stacks", Some(create_body()), Some("order-42")),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(replay["executionId"], first["executionId"]);

    let other_input =
        mock!(Sfn::describe_execution).then_output(|| described(r#"{"other":"request"}"#));
    let clients_conflict = clients(&[&exists, &other_input], &[]);
    let (status, problem, _) = call(
        &clients_conflict,
        request("POST", "/stacks", Some(create_body()), Some("order-42")),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(problem["field"], "Idempotency-Key");
    assert_eq!(fresh.num_calls(), 1);
    common::report(
        "guarantees",
        "api-retries",
        json!({"guarantee": "duplicate deliveries start no duplicate execution: API retries (Idempotency-Key)",
               "test": "stacks_api::the_same_idempotency_key_returns_the_same_execution_and_never_a_second"}),
    );
}

#[tokio::test]
async fn invalid_requests_never_reach_step_functions() {
    let start = mock!(Sfn::start_execution).then_output(started);
    let clients = clients(&[&start], &[]);
    let cases = [
        request(
            "POST",
            "/stacks",
            Some(json!({"environmentName": "prod"})),
            None,
        ),
        request(
            "POST",
            "/stacks",
            Some(
                json!({"environmentName": "prod", "stackName": "app", "templateUrl": "https://evil.s3.amazonaws.com/a.yaml"}),
            ),
            None,
        ),
        request(
            "POST",
            "/create",
            Some(
                json!({"stackname": "other-app", "templateurl": "https://templates.s3.amazonaws.com/a"}),
            ),
            None,
        ),
        request("POST", "/stacks", Some(create_body()), Some("")),
    ];
    for case in cases {
        let (status, body, _) = call(&clients, case).await;
        assert_eq!(status, 400, "{body}");
    }
    assert_eq!(start.num_calls(), 0);
}

fn stack(status: StackStatus, protected: bool) -> DescribeStacksOutput {
    stack_in("prod", status, protected)
}

/// A stack stackgate made for `environment`.
fn stack_in(environment: &str, status: StackStatus, protected: bool) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name(format!("{environment}-app"))
                .stack_id(STACK_ID)
                .stack_status(status)
                .enable_termination_protection(protected)
                .creation_time(aws_smithy_types::DateTime::from_secs(1_700_000_000))
                .tags(
                    Tag::builder()
                        .key("stackgate:managed")
                        .value("true")
                        .build(),
                )
                .tags(
                    Tag::builder()
                        .key("stackgate:environment")
                        .value(environment)
                        .build(),
                )
                .build(),
        )
        .build()
}

/// A stack of a managed environment's name that stackgate did not make (no tags), or made for
/// another environment.
fn foreign_stack(tags: &[(&str, &str)]) -> DescribeStacksOutput {
    let mut stack = Stack::builder()
        .stack_name("prod-app")
        .stack_id(STACK_ID)
        .stack_status(StackStatus::CreateComplete)
        .creation_time(aws_smithy_types::DateTime::from_secs(1_700_000_000));
    for (key, value) in tags {
        stack = stack.tags(Tag::builder().key(*key).value(*value).build());
    }
    DescribeStacksOutput::builder()
        .stacks(stack.build())
        .build()
}

#[tokio::test]
async fn stacks_stackgate_did_not_make_are_404_for_reads_and_deletes() {
    for tags in [
        &[][..],
        &[
            ("stackgate:managed", "false"),
            ("stackgate:environment", "prod"),
        ][..],
        &[
            ("stackgate:managed", "true"),
            ("stackgate:environment", "dev"),
        ][..],
        &[("stackgate:environment", "prod")][..],
    ] {
        let owned: Vec<(String, String)> = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let describe = mock!(CloudFormation::describe_stacks).then_output(move || {
            let borrowed: Vec<(&str, &str)> = owned
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            foreign_stack(&borrowed)
        });
        let start = mock!(Sfn::start_execution).then_output(started);
        let clients = clients(&[&start], &[&describe]);
        for (method, path) in [
            ("GET", "/stacks/prod-app"),
            ("GET", "/stacks/prod-app/events"),
            ("GET", "/state/prod-app"),
            ("DELETE", "/stacks/prod-app"),
        ] {
            let (status, body, _) = call(&clients, request(method, path, None, None)).await;
            assert_eq!(status, 404, "{method} {path} with tags {tags:?}: {body}");
        }
        assert_eq!(start.num_calls(), 0, "no delete was started");
    }
}

fn event(id: &str, ty: &str, status: ResourceStatus, reason: &str) -> StackEvent {
    StackEvent::builder()
        .stack_id(STACK_ID)
        .event_id(format!("{id}{}", status.as_str()))
        .stack_name("prod-app")
        .logical_resource_id(id)
        .resource_type(ty)
        .resource_status(status)
        .resource_status_reason(reason)
        .timestamp(aws_smithy_types::DateTime::from_secs(0))
        .build()
}

#[tokio::test]
async fn stack_state_shows_status_outputs_and_the_last_failure() {
    let describe = mock!(CloudFormation::describe_stacks)
        .then_output(|| stack(StackStatus::UpdateRollbackComplete, false));
    let events = mock!(CloudFormation::describe_stack_events).then_output(|| {
        DescribeStackEventsOutput::builder()
            .stack_events(event(
                "prod-app",
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateRollbackComplete,
                "",
            ))
            .stack_events(event(
                "Queue",
                "AWS::SQS::Queue",
                ResourceStatus::UpdateFailed,
                "quota exceeded",
            ))
            .stack_events(event(
                "prod-app",
                "AWS::CloudFormation::Stack",
                ResourceStatus::UpdateInProgress,
                "User Initiated",
            ))
            .build()
    });
    let clients = clients(&[], &[&describe, &events]);
    for path in ["/stacks/prod-app", "/state/prod-app"] {
        let (status, body, _) = call(&clients, request("GET", path, None, None)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "UPDATE_ROLLBACK_COMPLETE");
        assert_eq!(body["lastUpdated"], "2023-11-14T22:13:20Z");
        assert_eq!(body["lastFailure"]["logicalResourceId"], "Queue");
        assert_eq!(body["lastFailure"]["reason"], "quota exceeded");
    }
}

/// What the CLI follows while a stack operation runs: the events oldest first, each with its id.
#[tokio::test]
async fn a_stacks_events_are_listed_oldest_first_with_their_ids() {
    let describe = mock!(CloudFormation::describe_stacks)
        .then_output(|| stack(StackStatus::UpdateComplete, false));
    let events = mock!(CloudFormation::describe_stack_events).then_output(|| {
        DescribeStackEventsOutput::builder()
            .stack_events(event(
                "Queue",
                "AWS::SQS::Queue",
                ResourceStatus::CreateComplete,
                "",
            ))
            .stack_events(event(
                "Queue",
                "AWS::SQS::Queue",
                ResourceStatus::CreateInProgress,
                "",
            ))
            .build()
    });
    let clients = clients(&[], &[&describe, &events]);
    let (status, body, _) = call(
        &clients,
        request("GET", "/stacks/prod-app/events", None, None),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stackName"], "prod-app");
    let statuses: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]);
    assert_eq!(body["events"][0]["eventId"], "QueueCREATE_IN_PROGRESS");
    assert_eq!(body["events"][0]["logicalResourceId"], "Queue");
    assert_eq!(body["events"][0]["timestamp"], "1970-01-01T00:00:00Z");
    let (status, _, _) = call(
        &clients,
        request("POST", "/stacks/prod-app/events", None, None),
    )
    .await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn missing_and_unmanaged_stacks_are_404_without_touching_others() {
    let missing = mock!(CloudFormation::describe_stacks).then_error(|| {
        DescribeStacksError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message("Stack with id prod-app does not exist")
                .build(),
        )
    });
    let clients = clients(&[], &[&missing]);
    let (status, _, _) = call(&clients, request("GET", "/stacks/prod-app", None, None)).await;
    assert_eq!(status, 404);
    let calls = missing.num_calls();
    for (method, path) in [
        ("GET", "/stacks/staging-app"),
        ("GET", "/stacks/staging-app/events"),
        ("DELETE", "/stacks/payments"),
        ("GET", "/state/x"),
    ] {
        let (status, _, _) = call(&clients, request(method, path, None, None)).await;
        assert_eq!(status, 404, "{method} {path}");
    }
    assert_eq!(
        missing.num_calls(),
        calls,
        "unmanaged names never reach CloudFormation"
    );
}

#[tokio::test]
async fn deletes_are_refused_for_protected_or_busy_stacks_and_otherwise_accepted() {
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap()).unwrap();
            r.state_machine_arn() == Some(DELETE)
                && input["stackId"] == STACK_ID
                && r.name().is_some_and(|n| n.starts_with("delete-"))
        })
        .then_output(started);
    for (status, protected, expected) in [
        (StackStatus::CreateComplete, true, 409),
        (StackStatus::UpdateInProgress, false, 409),
        (StackStatus::UpdateComplete, false, 202),
    ] {
        let describe = mock!(CloudFormation::describe_stacks)
            .then_output(move || stack(status.clone(), protected));
        let clients = clients(&[&start], &[&describe]);
        let (got, body, _) =
            call(&clients, request("DELETE", "/stacks/prod-app", None, None)).await;
        assert_eq!(got, expected, "{body}");
        let (got, _, _) = call(
            &clients,
            request(
                "POST",
                "/delete",
                Some(json!({"stackname": "prod-app"})),
                None,
            ),
        )
        .await;
        assert_eq!(got, expected);
    }
    assert_eq!(start.num_calls(), 2);
}

/// `DELETE /stacks/{name}?onUnsafe=approve&approvalTimeoutSeconds=N`: what the deletion does
/// when it would lose data. Anything else in the query is refused, naming the parameter.
#[tokio::test]
async fn a_delete_says_what_to_do_with_data_loss_and_nothing_else() {
    use lambda_http::RequestExt;
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap()).unwrap();
            input
                == json!({"stackName": "prod-app", "stackId": STACK_ID, "onUnsafe": "approve",
                          "approvalTimeoutSeconds": 3600, "requestedBy": "anonymous"})
        })
        .then_output(started);
    let describe = mock!(CloudFormation::describe_stacks)
        .then_output(|| stack(StackStatus::UpdateComplete, false));
    let clients = clients(&[&start], &[&describe]);
    let with_query = |pairs: &[(&str, &str)]| {
        let query: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        request("DELETE", "/stacks/prod-app", None, None).with_query_string_parameters(query)
    };
    let (got, body, _) = call(
        &clients,
        with_query(&[("onUnsafe", "approve"), ("approvalTimeoutSeconds", "3600")]),
    )
    .await;
    assert_eq!(got, 202, "{body}");
    for (pairs, field) in [
        (vec![("onunsafe", "approve")], "query"),
        (vec![("onUnsafe", "blueGreen")], "onUnsafe"),
        (vec![("onUnsafe", "force")], "onUnsafe"),
        (
            vec![("approvalTimeoutSeconds", "soon")],
            "approvalTimeoutSeconds",
        ),
        (
            vec![("approvalTimeoutSeconds", "5")],
            "approvalTimeoutSeconds",
        ),
        (vec![("force", "true")], "query"),
        (vec![("x-hunter2 secret", "1")], "query"),
    ] {
        let (got, body, _) = call(&clients, with_query(&pairs)).await;
        assert_eq!(got, 400, "{pairs:?}: {body}");
        assert_eq!(body["field"], field, "{body}");
        assert!(!body.to_string().contains("hunter2"), "{body}");
    }
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn execution_status_lists_the_states_and_the_reason_of_a_failure() {
    let describe = mock!(Sfn::describe_execution)
        .match_requests(|r| {
            r.execution_arn()
                .is_some_and(|a| a.ends_with(":execution:SafeDeploy:deploy-k1"))
        })
        .then_output(|| {
            DescribeExecutionOutput::builder()
                .execution_arn("arn")
                .state_machine_arn(DEPLOY)
                .status(ExecutionStatus::Failed)
                .start_date(aws_smithy_types::DateTime::from_secs(0))
                .input(r#"{"stackName":"app","requestedBy":"anonymous"}"#)
                .error("UnsafeChangeSet")
                .cause("Refused change set: - Topic (AWS::SNS::Topic)")
                .build()
                .unwrap()
        });
    let history = mock!(Sfn::get_execution_history).then_output(|| {
        let entered = |id: i64, name: &str| {
            HistoryEvent::builder()
                .id(id)
                .timestamp(aws_smithy_types::DateTime::from_secs(0))
                .r#type(HistoryEventType::TaskStateEntered)
                .state_entered_event_details(
                    StateEnteredEventDetails::builder()
                        .name(name)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        };
        GetExecutionHistoryOutput::builder()
            .events(entered(1, "PlanChangeSet"))
            .events(entered(2, "DiscardUnsafeChangeSet"))
            .build()
            .unwrap()
    });
    let clients = clients(&[&describe, &history], &[]);
    let (status, body, _) = call(
        &clients,
        request("GET", "/executions/deploy-k1", None, None),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["error"], "UnsafeChangeSet");
    assert_eq!(
        body["states"],
        json!(["PlanChangeSet", "DiscardUnsafeChangeSet"])
    );
    assert!(body["cause"].as_str().unwrap().contains("Topic"));

    // Another caller's execution does not exist for this one, even under its exact name.
    let others = mock!(Sfn::describe_execution).then_output(|| {
        DescribeExecutionOutput::builder()
            .execution_arn("arn")
            .state_machine_arn(DEPLOY)
            .status(ExecutionStatus::Succeeded)
            .start_date(aws_smithy_types::DateTime::from_secs(0))
            .input(r#"{"stackName":"app","requestedBy":"apiKey:someone-else"}"#)
            .build()
            .unwrap()
    });
    let clients = self::clients(&[&others], &[]);
    let (status, body, _) = call(
        &clients,
        request("GET", "/executions/deploy-k1", None, None),
    )
    .await;
    assert_eq!(status, 404, "{body}");

    let unknown = mock!(Sfn::describe_execution).then_error(|| {
        DescribeExecutionError::ExecutionDoesNotExist(
            aws_sdk_sfn::types::error::ExecutionDoesNotExist::builder().build(),
        )
    });
    let clients = self::clients(&[&unknown], &[]);
    assert_eq!(
        call(
            &clients,
            request("GET", "/executions/deploy-nope", None, None)
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(&clients, request("GET", "/executions/other-1", None, None))
            .await
            .0,
        404
    );
}

/// How Step Functions answers StartExecution in the 202 matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Start {
    Started,
    ThrottledThenStarted,
    ServerError,
    AccessDenied,
    /// A name already used by a request with other input.
    TakenByAnotherRequest,
}

fn start_rule(start: Start) -> Rule {
    let error = |code: &'static str| {
        move || {
            StartExecutionError::generic(
                aws_sdk_sfn::error::ErrorMetadata::builder()
                    .code(code)
                    .build(),
            )
        }
    };
    match start {
        Start::Started => mock!(Sfn::start_execution).then_output(started),
        Start::ThrottledThenStarted => mock!(Sfn::start_execution)
            .sequence()
            .error(error("ThrottlingException"))
            .output(started)
            .build(),
        Start::ServerError => mock!(Sfn::start_execution).then_http_response(|| {
            aws_sdk_sfn::config::http::HttpResponse::new(
                500.try_into().unwrap(),
                aws_smithy_types::body::SdkBody::from("{}"),
            )
        }),
        Start::AccessDenied => {
            mock!(Sfn::start_execution).then_error(error("AccessDeniedException"))
        }
        Start::TakenByAnotherRequest => mock!(Sfn::start_execution).then_error(|| {
            StartExecutionError::ExecutionAlreadyExists(
                aws_sdk_sfn::types::error::ExecutionAlreadyExists::builder().build(),
            )
        }),
    }
}

/// Every sample request the API has (events/stacks-api), under every way StartExecution can go:
/// a 202 is only ever given when Step Functions started the execution, and a request that reached
/// StartExecution without a start gets an answer saying so (never a 2xx).
#[tokio::test]
async fn the_api_answers_202_only_for_a_started_execution() {
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../events/stacks-api");
    let mut samples: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    samples.sort();
    let (mut accepted, mut refused_unstarted) = (0, 0);
    for sample in &samples {
        for start in [
            Start::Started,
            Start::ThrottledThenStarted,
            Start::ServerError,
            Start::AccessDenied,
            Start::TakenByAnotherRequest,
        ] {
            let text = std::fs::read_to_string(sample).unwrap();
            let request = lambda_http::request::from_str(&text).unwrap();
            let rule = start_rule(start);
            let other_input =
                mock!(Sfn::describe_execution).then_output(|| described(r#"{"other":"request"}"#));
            // The stack asked for, as AWS names it (its id carries its name).
            let describe_stack =
                mock!(CloudFormation::describe_stacks).then_compute_output(|input| {
                    let name = input.stack_name().unwrap_or_default();
                    let mut output = stack_in("api", StackStatus::UpdateComplete, false);
                    if let Some(stack) = output.stacks.as_mut().and_then(|s| s.first_mut()) {
                        stack.stack_name = Some(name.to_string());
                        stack.stack_id = Some(STACK_ID.replace("prod-app", name));
                    }
                    output
                });
            let history = mock!(Sfn::get_execution_history).then_output(|| {
                GetExecutionHistoryOutput::builder()
                    .set_events(Some(Vec::new()))
                    .build()
                    .unwrap()
            });
            let events = mock!(CloudFormation::describe_stack_events)
                .then_output(|| DescribeStackEventsOutput::builder().build());
            let mut clients = clients(
                &[&rule, &other_input, &history],
                &[&describe_stack, &events],
            );
            clients.vending_machine_arn =
                Some("arn:aws:states:us-east-1:123456789012:stateMachine:Vending".into());
            clients.config.guardrails = guardrails(
                &["api"],
                &["stackgate-local-artifacts"],
                &["localhost:4566"],
            );
            let response = handle(&clients, request).await.unwrap();
            let status = response.status().as_u16();
            let name = sample.file_name().unwrap().to_string_lossy();
            let started = matches!(start, Start::Started | Start::ThrottledThenStarted)
                && rule.num_calls() > 0;
            if status == 202 {
                assert!(
                    started,
                    "{name} under {start:?}: 202 without a started execution"
                );
                accepted += 1;
            } else if rule.num_calls() > 0 && !started {
                assert!(
                    status == 409 || status >= 500,
                    "{name} under {start:?}: {status} for a request that was not started"
                );
                refused_unstarted += 1;
            }
        }
    }
    assert!(
        accepted >= 10,
        "the matrix accepted only {accepted} requests"
    );
    assert!(
        refused_unstarted >= 15,
        "only {refused_unstarted} unstarted requests"
    );
    common::report(
        "guarantees",
        "api-202",
        json!({"guarantee": "the API never answers 202 without a started execution",
               "test": "stacks_api::the_api_answers_202_only_for_a_started_execution",
               "cases": samples.len() * 5}),
    );
}

/// The request as API Gateway hands it over for a caller with this API key.
fn as_caller(request: Request, api_key_id: &str) -> Request {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    let mut context = ApiGatewayProxyRequestContext::default();
    context.identity.api_key_id = Some(api_key_id.into());
    request.with_request_context(RequestContext::ApiGatewayV1(context))
}

#[tokio::test]
async fn one_callers_idempotency_key_is_never_anothers_execution() {
    let start = mock!(Sfn::start_execution).then_output(started);
    let clients = clients(&[&start], &[]);
    let post = |caller: &str| {
        as_caller(
            request("POST", "/stacks", Some(create_body()), Some("order-42")),
            caller,
        )
    };
    let (status, a, _) = call(&clients, post("key-a")).await;
    assert_eq!(status, 202, "{a}");
    let (status, b, _) = call(&clients, post("key-b")).await;
    assert_eq!(status, 202, "{b}");
    assert_ne!(
        a["executionId"], b["executionId"],
        "the same key from another caller names another execution"
    );

    // Even knowing the name, another caller reads nothing.
    let id = a["executionId"].as_str().unwrap().to_string();
    let describe = mock!(Sfn::describe_execution)
        .then_output(|| described(r#"{"stackName":"app","requestedBy":"apiKey:key-a"}"#));
    let history = mock!(Sfn::get_execution_history).then_output(|| {
        GetExecutionHistoryOutput::builder()
            .set_events(Some(Vec::new()))
            .build()
            .unwrap()
    });
    let clients = self::clients(&[&describe, &history], &[]);
    let read = |caller: &str| {
        as_caller(
            request("GET", &format!("/executions/{id}"), None, None),
            caller,
        )
    };
    assert_eq!(call(&clients, read("key-b")).await.0, 404);
    let (status, body, _) = call(&clients, read("key-a")).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_idempotency_key_that_cannot_be_read_is_refused_not_ignored() {
    let start = mock!(Sfn::start_execution).then_output(started);
    let clients = clients(&[&start], &[]);
    let mut request = request("POST", "/stacks", Some(create_body()), None);
    request.headers_mut().insert(
        "idempotency-key",
        lambda_http::http::HeaderValue::from_bytes("clé-42".as_bytes()).unwrap(),
    );
    let (status, body, _) = call(&clients, request).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (400, Some("Idempotency-Key")),
        "{body}"
    );
    assert!(
        !body.to_string().contains("clé"),
        "the value is not echoed: {body}"
    );
    assert_eq!(start.num_calls(), 0);
}

/// GetTemplateSummary for a template declaring `DbPassword` NoEcho.
fn summary_with_no_echo() -> Rule {
    use aws_sdk_cloudformation::operation::get_template_summary::GetTemplateSummaryOutput;
    use aws_sdk_cloudformation::types::ParameterDeclaration;
    mock!(CloudFormation::get_template_summary)
        .match_requests(|r| r.template_url() == Some("https://templates.s3.amazonaws.com/app.yaml"))
        .then_output(|| {
            GetTemplateSummaryOutput::builder()
                .parameters(
                    ParameterDeclaration::builder()
                        .parameter_key("DbPassword")
                        .no_echo(true)
                        .build(),
                )
                .parameters(
                    ParameterDeclaration::builder()
                        .parameter_key("Size")
                        .build(),
                )
                .build()
        })
}

#[tokio::test]
async fn a_secret_parameter_is_accepted_only_as_a_reference_and_never_started_with_its_value() {
    let start = mock!(Sfn::start_execution).then_output(started);
    let summary = summary_with_no_echo();
    let clients = clients(&[&start], &[&summary]);
    let with = |parameters: Value, listed: Value| {
        let mut body = create_body();
        body["parameters"] = parameters;
        body["secretParameters"] = listed;
        request("POST", "/stacks", Some(body), None)
    };
    for (parameters, listed, field) in [
        (
            json!({"DbPassword": "plantedDbPassword1", "Size": "2"}),
            json!([]),
            "parameters.DbPassword",
        ),
        (
            json!({"ApiToken": "plantedApiToken1"}),
            json!(["ApiToken"]),
            "parameters.ApiToken",
        ),
    ] {
        let (status, body, _) = call(&clients, with(parameters, listed)).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
        assert!(
            !body.to_string().contains("planted"),
            "no value echoed: {body}"
        );
    }
    assert_eq!(
        start.num_calls(),
        0,
        "nothing started with a secret in its input"
    );
    let (status, body, _) = call(
        &clients,
        with(
            json!({"DbPassword": "{{resolve:ssm-secure:/app/db}}", "Size": "2"}),
            json!([]),
        ),
    )
    .await;
    assert_eq!(status, 202, "{body}");
}

/// `ConcurrentDeployments=refuse`: the stack's lease, held by `holder` (none: free), whose status
/// `sfn_rules` answer.
fn refusing(deps: Deps, holder: Option<&str>, sfn_rules: &[&Rule]) -> (Deps, Rule) {
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::types::AttributeValue;
    let holder = holder.map(str::to_string);
    let get = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|r| {
            r.table_name() == Some("leases")
                && r.key().and_then(|k| k.get("stackName"))
                    == Some(&AttributeValue::S("prod-app".into()))
        })
        .then_output(move || match &holder {
            Some(holder) => GetItemOutput::builder()
                .item("stackName", AttributeValue::S("prod-app".into()))
                .item("holder", AttributeValue::S(holder.clone()))
                .build(),
            None => GetItemOutput::builder().build(),
        });
    let deps = Deps {
        refuse_busy: Some(Leases {
            dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&get]),
            sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, sfn_rules),
            table: "leases".into(),
            settings: stackgate::lease::Settings::new("refuse", None).unwrap(),
        }),
        ..deps
    };
    (deps, get)
}

/// The holder in `status`, started by `requested_by`.
fn holder_status(arn: &str, status: ExecutionStatus, requested_by: &str) -> Rule {
    let arn = arn.to_string();
    let input = json!({"stackName": "app", "requestedBy": requested_by}).to_string();
    mock!(Sfn::describe_execution)
        .match_requests(move |r| r.execution_arn() == Some(arn.as_str()))
        .then_output(move || {
            DescribeExecutionOutput::builder()
                .execution_arn("arn")
                .state_machine_arn(DEPLOY)
                .status(status.clone())
                .input(input.clone())
                .start_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        })
}

#[tokio::test]
async fn refuse_answers_409_naming_the_running_execution_to_its_caller_only_and_starts_nothing() {
    let running = format!(
        "{}:earlier",
        DEPLOY.replace(":stateMachine:", ":execution:")
    );
    let start = mock!(Sfn::start_execution).then_output(started);
    let runs = holder_status(&running, ExecutionStatus::Running, "anonymous");
    let (deps, _lease) = refusing(clients(&[&start], &[]), Some(&running), &[&runs]);
    let (status, problem, _) =
        call(&deps, request("POST", "/stacks", Some(create_body()), None)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["executionArn"], running.as_str());
    assert!(problem["detail"].as_str().unwrap().contains("prod-app"));
    assert_eq!(start.num_calls(), 0);

    // Another caller's execution holds it: refused all the same, without naming that execution.
    let theirs = holder_status(&running, ExecutionStatus::Running, "apiKey:someone-else");
    let (deps, _lease) = refusing(clients(&[&start], &[]), Some(&running), &[&theirs]);
    let (status, problem, _) =
        call(&deps, request("POST", "/stacks", Some(create_body()), None)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem.get("executionArn"), None, "{problem}");
    assert!(!problem.to_string().contains(":earlier"), "{problem}");
    assert_eq!(start.num_calls(), 0);

    // The holder ended (an execution never gives its lease back itself): the request goes through.
    let ended = holder_status(&running, ExecutionStatus::Aborted, "anonymous");
    let (deps, _lease) = refusing(clients(&[&start], &[]), Some(&running), &[&ended]);
    let (status, _, _) = call(&deps, request("POST", "/stacks", Some(create_body()), None)).await;
    assert_eq!(status, 202);
    assert_eq!(start.num_calls(), 1);

    // A free stack: 202.
    let (deps, lease) = refusing(clients(&[&start], &[]), None, &[]);
    let (status, _, _) = call(&deps, request("POST", "/stacks", Some(create_body()), None)).await;
    assert_eq!(status, 202);
    assert_eq!(lease.num_calls(), 1);
}

/// A plan of `requested_by`'s in `status`, expiring at `expires_at`; with `judged`, its plan step
/// has left this result.
fn plan_execution(
    status: ExecutionStatus,
    requested_by: &str,
    expires_at: &str,
    error: Option<&str>,
) -> Rule {
    let mut input = create_body();
    input["requestedBy"] = json!(requested_by);
    input["planExpiresAt"] = json!(expires_at);
    let input = input.to_string();
    let error = error.map(str::to_string);
    mock!(Sfn::describe_execution)
        .match_requests(|r| {
            r.execution_arn()
                .is_some_and(|a| a.ends_with(":execution:SafeDeploy:deploy-kplan"))
        })
        .then_output(move || {
            DescribeExecutionOutput::builder()
                .execution_arn("arn")
                .state_machine_arn(DEPLOY)
                .status(status.clone())
                .input(input.clone())
                .set_error(error.clone())
                .start_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        })
}

fn plan_history(judged: bool) -> Rule {
    mock!(Sfn::get_execution_history).then_output(move || {
        let mut events = Vec::new();
        if judged {
            let output = json!({"plan": {"status": "READY",
                "check": {"deployment": {"stackName": "prod-app", "onUnsafe": "approve"}},
                "changeSet": {"changeSetName": "stackgate-1"},
                "inspection": {"verdict": "UNSAFE", "totalChanges": 1, "unsafeChanges": 1,
                    "securitySensitiveChanges": 0, "needsApproval": false,
                    "changes": [{"logicalResourceId": "Table"}], "summary": "- Table (AWS::DynamoDB::Table)"}}});
            events.push(
                HistoryEvent::builder()
                    .id(3)
                    .timestamp(aws_smithy_types::DateTime::from_secs(0))
                    .r#type(HistoryEventType::TaskStateExited)
                    .state_exited_event_details(
                        StateExitedEventDetails::builder()
                            .name("PlanChangeSet")
                            .output(output.to_string())
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            );
        }
        GetExecutionHistoryOutput::builder()
            .set_events(Some(events))
            .build()
            .unwrap()
    })
}

const LATER: &str = "2999-01-01T00:00:00Z";

#[tokio::test]
async fn a_plan_is_started_as_one_and_answered_with_its_id_and_expiry() {
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap_or("{}")).unwrap();
            input["planExpiresAt"].is_string() && input.get("applyPlan").is_none()
        })
        .then_output(started);
    let deps = clients(&[&start], &[]);
    let (status, body, _) = call(&deps, request("POST", "/plans", Some(create_body()), None)).await;
    assert_eq!(status, 202, "{body}");
    let id = body["planId"].as_str().unwrap();
    assert_eq!(body["executionId"], id);
    assert_eq!(body["statusUrl"], format!("/plans/{id}"));
    assert!(body["expiresAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(start.num_calls(), 1);

    // A replay (the same key and body, minutes later) is the same plan, with its first expiry; a
    // deployment under the key a plan used is not that plan.
    let exists = mock!(Sfn::start_execution).then_error(|| {
        StartExecutionError::ExecutionAlreadyExists(
            aws_sdk_sfn::types::error::ExecutionAlreadyExists::builder().build(),
        )
    });
    let planned = mock!(Sfn::describe_execution).then_output(|| {
        let mut input = started_input();
        input["planExpiresAt"] = json!(LATER);
        described(&input.to_string())
    });
    let replaying = clients(&[&exists, &planned], &[]);
    let (status, replay, _) = call(
        &replaying,
        request("POST", "/plans", Some(create_body()), Some("order-42")),
    )
    .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["expiresAt"], LATER);
    let (status, problem, _) = call(
        &replaying,
        request("POST", "/stacks", Some(create_body()), Some("order-42")),
    )
    .await;
    assert_eq!(status, 409, "{problem}");

    // A body cannot make itself a plan, or an applying execution, on POST /stacks.
    for (field, value) in [
        ("planExpiresAt", json!(LATER)),
        ("applyPlan", json!("deploy-kx")),
    ] {
        let mut body = create_body();
        body[field] = value;
        let (status, problem, _) = call(&deps, request("POST", "/stacks", Some(body), None)).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)));
    }
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn a_plan_is_read_and_applied_only_by_its_caller_and_only_while_it_is_ready() {
    let start = mock!(Sfn::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap_or("{}")).unwrap();
            input["applyPlan"] == "deploy-kplan"
                && input.get("planExpiresAt").is_none()
                && input["requestedBy"] == "apiKey:planner"
        })
        .then_output(started);
    let stop = mock!(Sfn::stop_execution)
        .match_requests(|r| {
            r.error() == Some("PlanApplied")
                && r.execution_arn()
                    .is_some_and(|a| a.ends_with(":deploy-kplan"))
        })
        .then_output(|| {
            StopExecutionOutput::builder()
                .stop_date(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap()
        });
    let running = plan_execution(ExecutionStatus::Running, "apiKey:planner", LATER, None);
    let judged = plan_history(true);
    let deps = clients(&[&start, &stop, &running, &judged], &[]);

    let read = |caller: &str| as_caller(request("GET", "/plans/deploy-kplan", None, None), caller);
    let (status, plan, _) = call(&deps, read("planner")).await;
    assert_eq!(status, 200, "{plan}");
    assert_eq!(plan["status"], "READY");
    assert_eq!(plan["verdict"], "UNSAFE");
    assert_eq!(plan["changes"][0]["logicalResourceId"], "Table");
    assert_eq!(plan["apply"]["body"]["planId"], "deploy-kplan");
    assert_eq!(call(&deps, read("someone-else")).await.0, 404);

    let apply =
        |caller: &str, body: Value| as_caller(request("POST", "/stacks", Some(body), None), caller);
    let only_plan = json!({"planId": "deploy-kplan"});
    // Another caller's plan does not exist for them, even under its exact id.
    let (status, _, _) = call(&deps, apply("someone-else", only_plan.clone())).await;
    assert_eq!(status, 404);
    // The plan holds the request: nothing may be added to it.
    let mut more = only_plan.clone();
    more["onUnsafe"] = json!("fail");
    let (status, problem, _) = call(&deps, apply("planner", more)).await;
    assert_eq!((status, problem["field"].as_str()), (400, Some("onUnsafe")));
    assert_eq!((start.num_calls(), stop.num_calls()), (0, 0));

    let (status, body, _) = call(&deps, apply("planner", only_plan)).await;
    assert_eq!(status, 202, "{body}");
    let applying = body["executionId"].as_str().unwrap();
    assert_ne!(applying, "deploy-kplan");
    assert_eq!(body["statusUrl"], format!("/executions/{applying}"));
    assert_eq!((start.num_calls(), stop.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_plan_not_ready_expired_or_ended_is_not_applied() {
    let start = mock!(Sfn::start_execution).then_output(started);
    let body = json!({"planId": "deploy-kplan"});
    let cases = [
        // Still being judged.
        (
            plan_execution(ExecutionStatus::Running, "anonymous", LATER, None),
            false,
        ),
        // Judged, but past its expiry.
        (
            plan_execution(
                ExecutionStatus::Running,
                "anonymous",
                "2020-01-01T00:00:00Z",
                None,
            ),
            true,
        ),
        // Refused as it stood.
        (
            plan_execution(
                ExecutionStatus::Failed,
                "anonymous",
                LATER,
                Some("UnsafeChangeSet"),
            ),
            false,
        ),
        // Expired and its change set deleted.
        (
            plan_execution(ExecutionStatus::Succeeded, "anonymous", LATER, None),
            true,
        ),
    ];
    for (execution, judged) in cases {
        let history = plan_history(judged);
        let deps = clients(&[&start, &execution, &history], &[]);
        let (status, problem, _) =
            call(&deps, request("POST", "/stacks", Some(body.clone()), None)).await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (409, Some("planId")),
            "{problem}"
        );
    }
    assert_eq!(start.num_calls(), 0);

    // A deployment's execution is no plan.
    let deployment = mock!(Sfn::describe_execution)
        .then_output(|| described(r#"{"stackName":"app","requestedBy":"anonymous"}"#));
    let deps = clients(&[&start, &deployment], &[]);
    assert_eq!(
        call(&deps, request("GET", "/plans/deploy-kplan", None, None))
            .await
            .0,
        404
    );
    assert_eq!(
        call(&deps, request("POST", "/stacks", Some(body), None))
            .await
            .0,
        404
    );
    assert_eq!(start.num_calls(), 0);
}

/// `GET /releases/{id}`: only its caller's release exists for a caller; each stack's state comes
/// from its plan's and its apply's executions, and the release's answer holds no stack's request.
#[tokio::test]
async fn a_release_is_read_only_by_its_caller_with_each_stacks_state() {
    const ID: &str = "release-kr1";
    let input = json!({
        "release": "r1", "environmentName": "prod", "requestedBy": "apiKey:owner",
        "maxConcurrency": 5, "waves": [{"stacks": [0], "bakeSeconds": 0}, {"stacks": [1], "bakeSeconds": 0}],
        "stacks": [
            {"stackName": "prod-net", "planName": "deploy-pnet", "applyName": "deploy-anet",
             "changeSetName": "stackgate-1", "plan": {"parameters": {"Password": "hunter2"}}, "apply": {}},
            {"stackName": "prod-web", "planName": "deploy-pweb", "applyName": "deploy-aweb",
             "changeSetName": "stackgate-2", "plan": {}, "apply": {}}
        ]
    })
    .to_string();
    let described = |status: ExecutionStatus, input: String, output: Option<&'static str>| {
        move || {
            DescribeExecutionOutput::builder()
                .execution_arn("arn")
                .state_machine_arn(DEPLOY)
                .status(status.clone())
                .start_date(aws_smithy_types::DateTime::from_secs(0))
                .input(input.clone())
                .set_output(output.map(str::to_string))
                .build()
                .unwrap()
        }
    };
    let release = mock!(Sfn::describe_execution)
        .match_requests(|r| {
            r.execution_arn()
                .is_some_and(|a| a.ends_with(&format!(":{ID}")))
        })
        .then_output(described(ExecutionStatus::Running, input, None));
    let planned = r#"{"outcome":"PLANNED"}"#;
    let plans = mock!(Sfn::describe_execution)
        .match_requests(|r| r.execution_arn().is_some_and(|a| a.contains(":deploy-p")))
        .then_output(described(
            ExecutionStatus::Succeeded,
            "{}".into(),
            Some(planned),
        ));
    let net_applied = mock!(Sfn::describe_execution)
        .match_requests(|r| {
            r.execution_arn()
                .is_some_and(|a| a.ends_with(":deploy-anet"))
        })
        .then_output(described(ExecutionStatus::Succeeded, "{}".into(), None));
    let web_not_started = mock!(Sfn::describe_execution)
        .match_requests(|r| {
            r.execution_arn()
                .is_some_and(|a| a.ends_with(":deploy-aweb"))
        })
        .then_error(|| {
            DescribeExecutionError::ExecutionDoesNotExist(
                aws_sdk_sfn::types::error::ExecutionDoesNotExist::builder().build(),
            )
        });
    let deps = clients(&[&release, &plans, &net_applied, &web_not_started], &[]);
    let read = |caller: &str| {
        as_caller(
            request("GET", &format!("/releases/{ID}"), None, None),
            caller,
        )
    };

    let (status, shown, _) = call(&deps, read("owner")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["status"], "RUNNING");
    assert_eq!(shown["release"], "r1");
    assert_eq!(shown["stacks"][0]["state"], "done", "{shown}");
    assert_eq!(shown["stacks"][0]["executionId"], "deploy-anet");
    assert_eq!(shown["stacks"][1]["state"], "planned", "{shown}");
    assert_eq!(shown["stacks"][1]["executionId"], Value::Null);
    assert!(!shown.to_string().contains("hunter2"), "{shown}");

    // Another caller, or an id of another kind: no such release.
    let (status, _, _) = call(&deps, read("someone-else")).await;
    assert_eq!(status, 404);
    let (status, _, _) = call(
        &deps,
        as_caller(request("GET", "/releases/deploy-kr1", None, None), "owner"),
    )
    .await;
    assert_eq!(status, 404);
}
