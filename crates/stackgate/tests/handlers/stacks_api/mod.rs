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

mod plans;
mod stacks;
mod starting;

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

/// The request as API Gateway hands it over for a caller with this API key.
fn as_caller(request: Request, api_key_id: &str) -> Request {
    use lambda_http::aws_lambda_events::apigw::ApiGatewayProxyRequestContext;
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt;
    let mut context = ApiGatewayProxyRequestContext::default();
    context.identity.api_key_id = Some(api_key_id.into());
    request.with_request_context(RequestContext::ApiGatewayV1(context))
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
