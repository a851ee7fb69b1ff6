//! AWS faults at every call site: each adapter function that calls AWS is run against
//! aws-smithy-mocks answering with throttling (then success), a 5xx, no answer at all (timeout),
//! AccessDenied and a validation error, as the service's own protocol would send them (status,
//! error body, request-id header), so the SDK's real error parsing and retry classification run.
//!
//! Transient faults must be retried by the SDK with the one retry configuration every function
//! uses (`aws::sdk`) and, once attempts run out, become `AwsTransientError` (which the state
//! machines retry); the others must fail at once as a terminal error. Every error that had a
//! response names AWS's request id. `every_call_site_is_in_the_matrix` reads the adapters' source
//! so that a new call site without a row here fails the build's tests.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aws_sdk_cloudformation::config::http::HttpResponse;
use aws_sdk_cloudformation::config::retry::RetryPartition;
use aws_sdk_cloudformation::config::timeout::TimeoutConfig;
use aws_sdk_cloudformation::types::ChangeSetType;
use aws_smithy_http_client::test_util::NeverClient;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use aws_smithy_types::body::SdkBody;
use serde_json::json;
use stackgate::approval::{Email, Status, StoredApproval};
use stackgate::aws::{
    cloudformation, codepipeline, dynamodb, eventbridge, reach, s3, sdk, ses, sfn, ssm,
};
use stackgate::TaskError;

const REQUEST_ID: &str = "f4c1e2d3-0000-4000-8000-5eed0fa17ed5";

/// How a service encodes its errors on the wire.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    /// Step Functions, DynamoDB, CodePipeline, SSM, EventBridge.
    AwsJson,
    /// CloudFormation.
    AwsQuery,
    /// S3.
    RestXml,
    /// SES v2.
    RestJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    ThrottledTwiceThenOk,
    ServerError,
    Timeout,
    AccessDenied,
    Validation,
}

const FAULTS: [Fault; 5] = [
    Fault::ThrottledTwiceThenOk,
    Fault::ServerError,
    Fault::Timeout,
    Fault::AccessDenied,
    Fault::Validation,
];

impl Fault {
    /// Status and error code as each protocol's service sends them.
    fn wire(self, protocol: Protocol) -> (u16, &'static str) {
        use Protocol::*;
        match (self, protocol) {
            (Fault::ThrottledTwiceThenOk, AwsJson) => (400, "ThrottlingException"),
            (Fault::ThrottledTwiceThenOk, AwsQuery) => (400, "Throttling"),
            (Fault::ThrottledTwiceThenOk, RestXml) => (503, "SlowDown"),
            (Fault::ThrottledTwiceThenOk, RestJson) => (429, "TooManyRequestsException"),
            (Fault::ServerError | Fault::Timeout, RestXml) => (500, "InternalError"),
            (Fault::ServerError | Fault::Timeout, _) => (500, "InternalFailure"),
            (Fault::AccessDenied, AwsQuery | RestXml) => (403, "AccessDenied"),
            (Fault::AccessDenied, AwsJson | RestJson) => (403, "AccessDeniedException"),
            (Fault::Validation, AwsJson) => (400, "ValidationException"),
            (Fault::Validation, AwsQuery) => (400, "ValidationError"),
            (Fault::Validation, RestXml) => (400, "InvalidArgument"),
            (Fault::Validation, RestJson) => (400, "BadRequestException"),
        }
    }

    fn response(self, protocol: Protocol) -> HttpResponse {
        let (status, code) = self.wire(protocol);
        let message = format!("injected {code}");
        let (content_type, body) = match protocol {
            Protocol::AwsJson => (
                "application/x-amz-json-1.0",
                json!({"__type": format!("com.amazonaws.fault#{code}"), "message": message})
                    .to_string(),
            ),
            Protocol::AwsQuery => (
                "text/xml",
                format!(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>\
                     <Message>{message}</Message></Error><RequestId>{REQUEST_ID}</RequestId>\
                     </ErrorResponse>"
                ),
            ),
            Protocol::RestXml => (
                "application/xml",
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code>\
                     <Message>{message}</Message><RequestId>{REQUEST_ID}</RequestId></Error>"
                ),
            ),
            Protocol::RestJson => ("application/json", json!({"message": message}).to_string()),
        };
        let mut response = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(body));
        let headers = response.headers_mut();
        headers.insert("content-type", content_type);
        match protocol {
            Protocol::RestXml => headers.insert("x-amz-request-id", REQUEST_ID),
            _ => headers.insert("x-amzn-requestid", REQUEST_ID),
        };
        if let Protocol::RestJson = protocol {
            headers.insert("x-amzn-errortype", code);
        }
        response
    }
}

/// What one call did under one fault.
#[derive(Debug)]
struct Outcome {
    result: Result<(), TaskError>,
    attempts: usize,
}

type Run = fn(Fault) -> Pin<Box<dyn Future<Output = Outcome>>>;

struct Site {
    /// `module::function`, as in `src/aws/`.
    function: &'static str,
    operation: &'static str,
    run: Run,
}

/// One attempt's timeout in the timeout case (the real one is `sdk::ATTEMPT_TIMEOUT`).
const TEST_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(40);

/// A row of the matrix: the mocked operation, its success output, and the adapter call.
macro_rules! site {
    ($function:literal, $operation:literal, $sdk:ident, $protocol:expr, $method:expr,
     ok: $ok:expr, call: |$client:ident| $call:expr) => {
        Site {
            function: $function,
            operation: $operation,
            run: |fault| {
                Box::pin(async move {
                    let protocol = $protocol;
                    let rule = match fault {
                        Fault::ThrottledTwiceThenOk => mock!($method)
                            .sequence()
                            .http_response(move || fault.response(protocol))
                            .times(2)
                            .output($ok)
                            .build(),
                        _ => mock!($method).then_http_response(move || fault.response(protocol)),
                    };
                    let never = NeverClient::new();
                    let partition = format!("{}-{fault:?}", $function);
                    let silent = never.clone();
                    let $client = mock_client!($sdk, RuleMode::MatchAny, [&rule], move |c| {
                        // The functions' own retry policy, with a short backoff for the test;
                        // a partition per case so that retries in parallel tests do not drain
                        // one shared token bucket.
                        let c = c
                            .retry_config(
                                sdk::retry_config().with_initial_backoff(Duration::from_millis(1)),
                            )
                            .retry_partition(RetryPartition::new(partition.clone()))
                            .sleep_impl(
                                aws_smithy_async::rt::sleep::default_async_sleep().unwrap(),
                            );
                        if fault == Fault::Timeout {
                            c.http_client(silent.clone()).timeout_config(
                                TimeoutConfig::builder()
                                    .operation_attempt_timeout(TEST_ATTEMPT_TIMEOUT)
                                    .build(),
                            )
                        } else {
                            c
                        }
                    });
                    let result = $call.await.map(drop);
                    let attempts = if fault == Fault::Timeout {
                        never.num_calls()
                    } else {
                        rule.num_calls()
                    };
                    Outcome { result, attempts }
                })
            },
        }
    };
}

fn approval() -> StoredApproval {
    StoredApproval {
        id: "a1".into(),
        status: Status::Pending,
        created_at: 0,
        expires_at: 3600,
        request: serde_json::from_value(json!({"kind": "manualTask", "taskName": "rotate keys"}))
            .unwrap(),
        decided_by: None,
        decided_at: None,
        comment: None,
        execution_arn: None,
    }
}

fn email() -> Email {
    Email {
        subject: "s".into(),
        text: "t".into(),
        html: "<p>h</p>".into(),
    }
}

fn sfn_time() -> aws_sdk_sfn::primitives::DateTime {
    aws_sdk_sfn::primitives::DateTime::from_secs(0)
}

const EXECUTION: &str = "arn:aws:states:us-east-1:1:execution:SafeDeploy:x";
const STATE_MACHINE: &str = "arn:aws:states:us-east-1:1:stateMachine:SafeDeploy";

fn sites() -> Vec<Site> {
    use aws_sdk_cloudformation::operation as cf;
    use aws_sdk_sfn::operation as sf;
    use Protocol::*;
    vec![
        // --- CloudFormation ---
        site!("cloudformation::describe_stack", "DescribeStacks", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::describe_stacks,
            ok: || cf::describe_stacks::DescribeStacksOutput::builder().build(),
            call: |c| cloudformation::describe_stack(&c, "app")),
        site!("cloudformation::has_resources", "ListStackResources", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::list_stack_resources,
            ok: || cf::list_stack_resources::ListStackResourcesOutput::builder().build(),
            call: |c| cloudformation::has_resources(&c, "app")),
        site!("cloudformation::stack_resources", "ListStackResources", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::list_stack_resources,
            ok: || cf::list_stack_resources::ListStackResourcesOutput::builder().build(),
            call: |c| cloudformation::stack_resources(&c, "app")),
        site!("cloudformation::declared_parameters", "GetTemplateSummary", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::get_template_summary,
            ok: || cf::get_template_summary::GetTemplateSummaryOutput::builder().build(),
            call: |c| cloudformation::declared_parameters(&c, Some("Resources: {}"), None)),
        site!("cloudformation::template_at", "GetTemplate", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::get_template,
            ok: || cf::get_template::GetTemplateOutput::builder().build(),
            call: |c| cloudformation::current_template(&c, Some("app"), None)),
        site!("cloudformation::create_change_set", "CreateChangeSet", aws_sdk_cloudformation, AwsQuery,
        aws_sdk_cloudformation::Client::create_change_set,
        ok: || cf::create_change_set::CreateChangeSetOutput::builder().build(),
        call: |c| async move {
            let none = BTreeMap::new();
            cloudformation::create_change_set(&c, &cloudformation::ChangeSetRequest {
                stack_name: "app",
                change_set_name: "cs",
                change_set_type: ChangeSetType::Update,
                template_body: Some("{}"),
                template_url: None,
                parameters: &none,
                tags: &none,
                capabilities: &[],
                role_arn: None,
                client_token: "t",
                description: "d",
                rollback_alarms: &[],
                monitoring_minutes: 0,
            }).await
        }),
        site!("cloudformation::delete_change_set", "DeleteChangeSet", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::delete_change_set,
            ok: || cf::delete_change_set::DeleteChangeSetOutput::builder().build(),
            call: |c| async move { cloudformation::delete_change_set(&c, "app", "cs").await.map(|_| ()) }),
        site!("cloudformation::execute_change_set", "ExecuteChangeSet", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::execute_change_set,
            ok: || cf::execute_change_set::ExecuteChangeSetOutput::builder().build(),
            call: |c| async move { cloudformation::execute_change_set(&c, "app", "cs", "t").await.map(|_| ()) }),
        site!("cloudformation::delete_stack", "DeleteStack", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::delete_stack,
            ok: || cf::delete_stack::DeleteStackOutput::builder().build(),
            call: |c| cloudformation::delete_stack(&c, "app", "t")),
        site!("cloudformation::change_set", "DescribeChangeSet", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::describe_change_set,
            ok: || cf::describe_change_set::DescribeChangeSetOutput::builder().build(),
            call: |c| async move { cloudformation::change_set(&c, "app", "cs").await.map(|_| ()) }),
        site!("cloudformation::all_changes", "DescribeChangeSet", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::describe_change_set,
            ok: || cf::describe_change_set::DescribeChangeSetOutput::builder().build(),
            call: |c| async move { cloudformation::all_changes(&c, "app", "cs", &Default::default()).await }),
        site!("cloudformation::start_drift_detection", "DetectStackDrift", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::detect_stack_drift,
            ok: || cf::detect_stack_drift::DetectStackDriftOutput::builder()
                .stack_drift_detection_id("d-1").build(),
            call: |c| cloudformation::start_drift_detection(&c, "app")),
        site!("cloudformation::drift_detection_status", "DescribeStackDriftDetectionStatus", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::describe_stack_drift_detection_status,
            ok: || cf::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput::builder()
                .stack_id("app").stack_drift_detection_id("d-1")
                .detection_status(aws_sdk_cloudformation::types::StackDriftDetectionStatus::DetectionComplete)
                .timestamp(aws_smithy_types::DateTime::from_secs(0)).build(),
            call: |c| cloudformation::drift_detection_status(&c, "d-1")),
        site!("cloudformation::drifted_resources", "DescribeStackResourceDrifts", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::describe_stack_resource_drifts,
            ok: || cf::describe_stack_resource_drifts::DescribeStackResourceDriftsOutput::builder()
                .set_stack_resource_drifts(Some(Vec::new())).build(),
            call: |c| async move { cloudformation::drifted_resources(&c, "app").await.map(|_| ()) }),
        site!("cloudformation::recent_events", "DescribeStackEvents", aws_sdk_cloudformation, AwsQuery,
            aws_sdk_cloudformation::Client::describe_stack_events,
            ok: || cf::describe_stack_events::DescribeStackEventsOutput::builder().build(),
            call: |c| cloudformation::recent_events(&c, "app")),
        // --- CodePipeline ---
        site!("codepipeline::put_job_success", "PutJobSuccessResult", aws_sdk_codepipeline, AwsJson,
        aws_sdk_codepipeline::Client::put_job_success_result,
        ok: || aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput::builder().build(),
        call: |c| async move {
            codepipeline::put_job_success(&c, "job", None, "done", None, &BTreeMap::new()).await
        }),
        site!("codepipeline::put_job_failure", "PutJobFailureResult", aws_sdk_codepipeline, AwsJson,
            aws_sdk_codepipeline::Client::put_job_failure_result,
            ok: || aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultOutput::builder().build(),
            call: |c| codepipeline::put_job_failure(&c, "job", "failed", None)),
        // --- DynamoDB ---
        site!("dynamodb::put_approval", "PutItem", aws_sdk_dynamodb, AwsJson,
            aws_sdk_dynamodb::Client::put_item,
            ok: || aws_sdk_dynamodb::operation::put_item::PutItemOutput::builder().build(),
            call: |c| async move { dynamodb::put_approval(&c, "approvals", &approval(), "tok").await }),
        site!("dynamodb::get_approval", "GetItem", aws_sdk_dynamodb, AwsJson,
            aws_sdk_dynamodb::Client::get_item,
            ok: || aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder().build(),
            call: |c| dynamodb::get_approval(&c, "approvals", "a1", true)),
        site!("dynamodb::decide", "UpdateItem", aws_sdk_dynamodb, AwsJson,
            aws_sdk_dynamodb::Client::update_item,
            ok: || aws_sdk_dynamodb::operation::update_item::UpdateItemOutput::builder().build(),
            call: |c| dynamodb::decide(&c, "approvals", "a1", Status::Approved, "me", None, 1, "n1")),
        site!("dynamodb::decision_id", "GetItem", aws_sdk_dynamodb, AwsJson,
            aws_sdk_dynamodb::Client::get_item,
            ok: || aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder().build(),
            call: |c| dynamodb::decision_id(&c, "approvals", "a1")),
        site!("dynamodb::mark_expired", "UpdateItem", aws_sdk_dynamodb, AwsJson,
            aws_sdk_dynamodb::Client::update_item,
            ok: || aws_sdk_dynamodb::operation::update_item::UpdateItemOutput::builder().build(),
            call: |c| dynamodb::mark_expired(&c, "approvals", "a1")),
        site!("dynamodb::revert_to_pending", "UpdateItem", aws_sdk_dynamodb, AwsJson,
            aws_sdk_dynamodb::Client::update_item,
            ok: || aws_sdk_dynamodb::operation::update_item::UpdateItemOutput::builder().build(),
            call: |c| dynamodb::revert_to_pending(&c, "approvals", "a1")),
        site!("dynamodb::take_lease", "PutItem", aws_sdk_dynamodb, AwsJson,
        aws_sdk_dynamodb::Client::put_item,
        ok: || aws_sdk_dynamodb::operation::put_item::PutItemOutput::builder().build(),
        call: |c| async move {
            dynamodb::take_lease(&c, "leases", &stackgate::lease::Lease::new("dev-app", "arn:e", 1), None).await
        }),
        site!("dynamodb::read_lease", "GetItem", aws_sdk_dynamodb, AwsJson,
            aws_sdk_dynamodb::Client::get_item,
            ok: || aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder().build(),
            call: |c| dynamodb::read_lease(&c, "leases", "dev-app")),
        site!("dynamodb::put_wait", "PutItem", aws_sdk_dynamodb, AwsJson,
            aws_sdk_dynamodb::Client::put_item,
            ok: || aws_sdk_dynamodb::operation::put_item::PutItemOutput::builder().build(),
            call: |c| async move { dynamodb::put_wait(&c, "waits", &stack_wait()).await }),
        site!("dynamodb::read_wait", "GetItem", aws_sdk_dynamodb, AwsJson,
            aws_sdk_dynamodb::Client::get_item,
            ok: || aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder().build(),
            call: |c| async move { dynamodb::read_wait(&c, "waits", STACK_ARN).await.map(|_| ()) }),
        site!("dynamodb::delete_wait", "DeleteItem", aws_sdk_dynamodb, AwsJson,
            aws_sdk_dynamodb::Client::delete_item,
            ok: || aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput::builder().build(),
            call: |c| async move { dynamodb::delete_wait(&c, "waits", &stack_wait()).await }),
        // --- EventBridge ---
        site!("eventbridge::enabled_rules", "DescribeRule", aws_sdk_eventbridge, AwsJson,
            aws_sdk_eventbridge::Client::describe_rule,
            ok: || aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput::builder().build(),
            call: |c| async move { eventbridge::enabled_rules(&c, &["nightly".to_string()]).await }),
        site!("eventbridge::set_rule", "EnableRule", aws_sdk_eventbridge, AwsJson,
            aws_sdk_eventbridge::Client::enable_rule,
            ok: || aws_sdk_eventbridge::operation::enable_rule::EnableRuleOutput::builder().build(),
            call: |c| eventbridge::set_rule(&c, "nightly", true)),
        site!("eventbridge::set_rule", "DisableRule", aws_sdk_eventbridge, AwsJson,
            aws_sdk_eventbridge::Client::disable_rule,
            ok: || aws_sdk_eventbridge::operation::disable_rule::DisableRuleOutput::builder().build(),
            call: |c| eventbridge::set_rule(&c, "nightly", false)),
        // --- S3 ---
        site!("s3::get_object", "GetObject", aws_sdk_s3, RestXml,
            aws_sdk_s3::Client::get_object,
            ok: || aws_sdk_s3::operation::get_object::GetObjectOutput::builder()
                .body(aws_sdk_s3::primitives::ByteStream::from_static(b"{}"))
                .build(),
            call: |c| s3::get_object(&c, "bucket", "template.yaml", 1024)),
        site!("s3::put_template", "PutObject", aws_sdk_s3, RestXml,
            aws_sdk_s3::Client::put_object,
            ok: || aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build(),
            call: |c| s3::put_template(&c, "bucket", "template.yaml", "{}")),
        // --- SES v2 ---
        site!("ses::send_email", "SendEmail", aws_sdk_sesv2, RestJson,
        aws_sdk_sesv2::Client::send_email,
        ok: || aws_sdk_sesv2::operation::send_email::SendEmailOutput::builder().build(),
        call: |c| async move {
            ses::send_email(&c, "stackgate@example.com", &["ops@example.com".to_string()], &email()).await
        }),
        // --- Step Functions ---
        site!("sfn::start", "StartExecution", aws_sdk_sfn, AwsJson,
            aws_sdk_sfn::Client::start_execution,
            ok: || sf::start_execution::StartExecutionOutput::builder()
                .execution_arn(EXECUTION).start_date(sfn_time()).build().unwrap(),
            call: |c| sfn::start(&c, STATE_MACHINE, "x", "{}")),
        site!("sfn::describe_if_exists", "DescribeExecution", aws_sdk_sfn, AwsJson,
            aws_sdk_sfn::Client::describe_execution,
            ok: || sf::describe_execution::DescribeExecutionOutput::builder()
                .execution_arn(EXECUTION).state_machine_arn(STATE_MACHINE)
                .status(aws_sdk_sfn::types::ExecutionStatus::Running)
                .start_date(sfn_time()).build().unwrap(),
            call: |c| sfn::describe_if_exists(&c, EXECUTION)),
        site!("sfn::read_history", "GetExecutionHistory", aws_sdk_sfn, AwsJson,
            aws_sdk_sfn::Client::get_execution_history,
            ok: || sf::get_execution_history::GetExecutionHistoryOutput::builder()
                .set_events(Some(Vec::new())).build().unwrap(),
            call: |c| sfn::states_entered(&c, EXECUTION)),
        site!("sfn::stop", "StopExecution", aws_sdk_sfn, AwsJson,
            aws_sdk_sfn::Client::stop_execution,
            ok: || sf::stop_execution::StopExecutionOutput::builder()
                .stop_date(sfn_time()).build().unwrap(),
            call: |c| sfn::stop(&c, EXECUTION, "PlanApplied", "applied")),
        // The history holds the answer, so one read decides (an empty one is read again).
        site!("sfn::answer_arrived", "GetExecutionHistory", aws_sdk_sfn, AwsJson,
            aws_sdk_sfn::Client::get_execution_history,
            ok: || sf::get_execution_history::GetExecutionHistoryOutput::builder()
                .events(aws_sdk_sfn::types::HistoryEvent::builder()
                    .id(1).r#type(aws_sdk_sfn::types::HistoryEventType::TaskSucceeded)
                    .timestamp(sfn_time())
                    .task_succeeded_event_details(aws_sdk_sfn::types::TaskSucceededEventDetails::builder()
                        .resource("invoke.waitForTaskToken").resource_type("lambda").output("{}").build().unwrap())
                    .build().unwrap())
                .build().unwrap(),
            call: |c| async move { sfn::answer_arrived(&c, EXECUTION, &sfn::TaskAnswer::Success { output: "{}".into() }).await.map(|_| ()) }),
        site!("sfn::send_answer", "SendTaskSuccess", aws_sdk_sfn, AwsJson,
            aws_sdk_sfn::Client::send_task_success,
            ok: || sf::send_task_success::SendTaskSuccessOutput::builder().build(),
            call: |c| sfn::send_answer(&c, "token", &sfn::TaskAnswer::Success { output: "{}".into() })),
        site!("sfn::send_answer", "SendTaskFailure", aws_sdk_sfn, AwsJson,
            aws_sdk_sfn::Client::send_task_failure,
            ok: || sf::send_task_failure::SendTaskFailureOutput::builder().build(),
            call: |c| sfn::send_task_failure(&c, "token", "Rejected", "no")),
        site!("sfn::get_activity_task", "GetActivityTask", aws_sdk_sfn, AwsJson,
            aws_sdk_sfn::Client::get_activity_task,
            ok: || sf::get_activity_task::GetActivityTaskOutput::builder().build(),
            call: |c| async move { sfn::get_activity_task(&c, "arn:activity", "worker").await.map(|_| ()) }),
        site!("sfn::send_task_heartbeat", "SendTaskHeartbeat", aws_sdk_sfn, AwsJson,
            aws_sdk_sfn::Client::send_task_heartbeat,
            ok: || sf::send_task_heartbeat::SendTaskHeartbeatOutput::builder().build(),
            call: |c| sfn::send_task_heartbeat(&c, "token")),
        // --- SSM ---
        site!("ssm::secure_string_version", "GetParameter", aws_sdk_ssm, AwsJson,
            aws_sdk_ssm::Client::get_parameter,
            ok: || aws_sdk_ssm::operation::get_parameter::GetParameterOutput::builder()
                .parameter(aws_sdk_ssm::types::Parameter::builder().value("v").version(1).build())
                .build(),
            call: |c| ssm::secure_string_version(&c, "/stackgate/key")),
        site!("ssm::put_secure_string", "PutParameter", aws_sdk_ssm, AwsJson,
            aws_sdk_ssm::Client::put_parameter,
            ok: || aws_sdk_ssm::operation::put_parameter::PutParameterOutput::builder().build(),
            call: |c| ssm::put_secure_string(&c, "/stackgate/app/db", "v", None)),
        // --- STS (a stack's account, `aws::reach`) ---
        site!("reach::assume_role", "AssumeRole", aws_sdk_sts, AwsQuery,
        aws_sdk_sts::Client::assume_role,
        ok: || aws_sdk_sts::operation::assume_role::AssumeRoleOutput::builder()
            .credentials(aws_sdk_sts::types::Credentials::builder()
                .access_key_id("a").secret_access_key("s").session_token("t")
                .expiration(aws_smithy_types::DateTime::from_secs(0))
                .build().unwrap())
            .build(),
        call: |c| async move {
            let role = reach::DeployRole {
                targets: stackgate::destination::Targets {
                    accounts: vec![],
                    regions: vec![],
                },
                name: "stackgate-deploy".into(),
                external_id: None,
                session_name: "stackgate-test".into(),
            };
            reach::assume_role(&c, "arn:aws:iam::222222222222:role/stackgate-deploy", &role).await.map(|_| ())
        }),
    ]
}

/// What a fault must end in; `Err` says how the outcome fell short.
fn judge(fault: Fault, outcome: &Outcome) -> Result<&'static str, String> {
    let expect_attempts = |n: usize, what: &'static str| {
        if outcome.attempts == n {
            Ok(what)
        } else {
            Err(format!("{} attempts, expected {n}", outcome.attempts))
        }
    };
    let error = match (&outcome.result, fault) {
        (Ok(()), Fault::ThrottledTwiceThenOk) => {
            return expect_attempts(3, "retried, then succeeded")
        }
        (Ok(()), _) => return Err("succeeded under a fault".into()),
        (Err(error), Fault::ThrottledTwiceThenOk) => {
            return Err(format!(
                "failed although the third attempt succeeds: {error}"
            ))
        }
        (Err(error), _) => error,
    };
    let text = error.to_string();
    let (expected_type, attempts, verdict) = match fault {
        Fault::ServerError => (
            "AwsTransientError",
            sdk::MAX_ATTEMPTS as usize,
            "retried, then AwsTransientError (state machine retries)",
        ),
        Fault::Timeout => (
            "AwsTransientError",
            sdk::MAX_ATTEMPTS as usize,
            "retried, then AwsTransientError (state machine retries)",
        ),
        Fault::AccessDenied => ("AwsAccessDenied", 1, "terminal AwsAccessDenied"),
        Fault::Validation => ("AwsError", 1, "terminal AwsError"),
        Fault::ThrottledTwiceThenOk => unreachable!(),
    };
    if error.error_type() != expected_type {
        return Err(format!(
            "{} instead of {expected_type}: {text}",
            error.error_type()
        ));
    }
    let named = if fault == Fault::Timeout {
        text.contains("timeout") || text.contains("timed out")
    } else {
        text.contains(&format!("(request id {REQUEST_ID})"))
    };
    if !named {
        return Err(format!("the error does not say what happened: {text}"));
    }
    expect_attempts(attempts, verdict)
}

#[tokio::test]
async fn every_call_site_retries_transient_faults_and_fails_clearly_on_the_others() {
    let mut failures = Vec::new();
    let mut rows = Vec::new();
    for site in sites() {
        let mut verdicts = serde_json::Map::new();
        for fault in FAULTS {
            let outcome = (site.run)(fault).await;
            match judge(fault, &outcome) {
                Ok(verdict) => {
                    verdicts.insert(format!("{fault:?}"), json!(verdict));
                }
                Err(why) => failures.push(format!(
                    "{} ({}), {fault:?}: {why}",
                    site.function, site.operation
                )),
            }
        }
        rows.push(json!({
            "function": site.function,
            "operation": site.operation,
            "faults": verdicts,
        }));
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    common::report(
        "faults",
        "matrix",
        json!({
            "faults": FAULTS.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>(),
            "sites": rows,
            "sitesInSource": call_sites_in_source().len(),
        }),
    );
}

/// `(module::function, Operation)` for every classified SDK call in `src/aws/`.
fn call_sites_in_source() -> BTreeSet<(String, String)> {
    let dir = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("src/aws");
    let mut sites = BTreeSet::new();
    // A service's adapter is `aws/<service>.rs`, or `aws/<service>/*.rs` when it has parts.
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let module = path.file_name().unwrap().to_string_lossy().to_string();
            for part in std::fs::read_dir(&path).unwrap() {
                files.push((module.clone(), part.unwrap().path()));
            }
        } else {
            files.push((
                path.file_stem().unwrap().to_string_lossy().to_string(),
                path,
            ));
        }
    }
    for (module, path) in files {
        let source = std::fs::read_to_string(&path).unwrap();
        let mut function = String::new();
        let (mut sends, mut classified) = (0, 0);
        for line in source.lines() {
            let line = line.trim();
            if line.starts_with("//") {
                continue;
            }
            if let Some(rest) = line.split_once("fn ").map(|(_, r)| r) {
                if line.starts_with("pub") || line.starts_with("fn") || line.starts_with("async") {
                    function = rest.split(['(', '<']).next().unwrap().to_string();
                }
            }
            sends += line.matches(".send()").count();
            for marker in ["classify(\"", "delivery!(result, \""] {
                if let Some((_, rest)) = line.split_once(marker) {
                    let operation = rest.split('"').next().unwrap().to_string();
                    sites.insert((format!("{module}::{function}"), operation));
                    classified += 1;
                }
            }
        }
        assert_eq!(
            sends, classified,
            "{module}.rs: every .send() must have its error classified (classify/delivery!)"
        );
    }
    sites
}

const STACK_ARN: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/dev-app/1";

fn stack_wait() -> stackgate::stack_events::StackWait {
    stackgate::stack_events::StackWait {
        destination: Default::default(),
        stack_id: STACK_ARN.into(),
        request_token: "stackgate-1".into(),
        task_token: "tok".into(),
        operation: stackgate::stack_events::Operation::Deploy,
        rollback_alarms: vec![],
        expires_at: 1,
    }
}

#[test]
fn every_call_site_is_in_the_matrix() {
    let in_source = call_sites_in_source();
    let in_matrix: BTreeSet<(String, String)> = sites()
        .iter()
        .map(|s| (s.function.to_string(), s.operation.to_string()))
        .collect();
    let missing: Vec<_> = in_source.difference(&in_matrix).collect();
    let stale: Vec<_> = in_matrix.difference(&in_source).collect();
    assert!(
        missing.is_empty(),
        "call sites without fault tests: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "rows for call sites that no longer exist: {stale:?}"
    );
    assert!(
        in_source.len() >= 25,
        "the source scan found too little: {in_source:?}"
    );
}
