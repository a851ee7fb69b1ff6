//! stack-operation against aws-smithy-mocks: each operation is the one CloudFormation call, made
//! where the stack lives, and only for a running execution that scheduled it; a retry after a lost
//! answer finds it done; a request naming an account the operator did not list, a malformed one,
//! or one no execution asked for, reaches no account at all.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cloudformation::operation::delete_change_set::{
    DeleteChangeSetError, DeleteChangeSetOutput,
};
use aws_sdk_cloudformation::operation::delete_stack::DeleteStackOutput;
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::execute_change_set::{
    ExecuteChangeSetError, ExecuteChangeSetOutput,
};
use aws_sdk_cloudformation::types::error::InvalidChangeSetStatusException;
use aws_sdk_cloudformation::types::ExecutionStatus;
use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_sfn::operation::get_execution_history::GetExecutionHistoryOutput;
use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType, TaskScheduledEventDetails};
use aws_sdk_sfn::Client as Sfn;
use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
use aws_sdk_sts::Client as Sts;
use aws_smithy_http_client::test_util::capture_request;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use aws_smithy_types::error::ErrorMetadata;
use serde_json::{json, Value};
use stackgate::aws::reach::{DeployRole, Reach};
use stackgate::destination::Destination;
use stackgate::tasks::stack_operation;
use stackgate::TaskError;

use super::create_change_set::{cfn, event, STACK};

const CHANGE_SET: &str = "stackgate-0123456789abcdef0123";
const ELSEWHERE: &str = "222222222222";
const EXECUTION: &str =
    "arn:aws:states:us-east-1:123456789012:execution:SafeDeployStateMachine:deploy-1";

/// The execution's history, newest first: `events` (a TaskScheduled event per payload asked for),
/// and, when `ended`, its end on top.
fn history(asked: &[&Value], ended: bool) -> Sfn {
    let mut events: Vec<HistoryEvent> = asked
        .iter()
        .enumerate()
        .map(|(i, payload)| {
            let parameters = json!({"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:stack-operation", "Payload": payload});
            HistoryEvent::builder()
                .id(10 + i as i64)
                .r#type(HistoryEventType::TaskScheduled)
                .timestamp(aws_smithy_types::DateTime::from_secs(0))
                .task_scheduled_event_details(
                    TaskScheduledEventDetails::builder()
                        .resource_type("lambda")
                        .resource("invoke")
                        .region("us-east-1")
                        .parameters(parameters.to_string())
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        })
        .collect();
    if ended {
        events.insert(
            0,
            HistoryEvent::builder()
                .id(99)
                .r#type(HistoryEventType::ExecutionSucceeded)
                .timestamp(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .unwrap(),
        );
    }
    let read = mock!(Sfn::get_execution_history)
        .match_requests(|r| r.execution_arn() == Some(EXECUTION) && r.reverse_order() == Some(true))
        .then_output(move || {
            GetExecutionHistoryOutput::builder()
                .set_events(Some(events.clone()))
                .build()
                .unwrap()
        });
    mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&read])
}

fn config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .build()
}

fn role() -> DeployRole {
    DeployRole {
        targets: stackgate::destination::Targets {
            accounts: vec![ELSEWHERE.into()],
            regions: vec!["eu-west-1".into()],
        },
        name: "stackgate-deploy".into(),
        external_id: Some("stackgate-ext".into()),
        session_name: "stackgate-stack-operation".into(),
    }
}

fn sts(rules: &[&Rule]) -> Sts {
    mock_client!(aws_sdk_sts, RuleMode::MatchAny, rules)
}

/// stackgate's own CloudFormation (`home`), and `client` in another account's Region: what every
/// handler reaches elsewhere through.
pub(crate) fn reach_elsewhere(home: CloudFormation, client: CloudFormation) -> Reach {
    Reach::new(&config(), home, sts(&[]), role()).with_client(elsewhere(), client)
}

/// The account and Region of `reach_elsewhere`.
pub(crate) fn elsewhere() -> Destination {
    Destination::new(Some(ELSEWHERE.into()), Some("eu-west-1".into())).unwrap()
}

/// The function with stackgate's own CloudFormation (`home`), acting for an execution that asked
/// for `asked`.
fn deps(home: &[&Rule], asked: &Value) -> stack_operation::Deps {
    stack_operation::Deps {
        reach: Reach::new(&config(), cfn(home), sts(&[]), role()),
        sfn: history(&[asked], false),
    }
}

/// `input`, asked for by the execution it names.
async fn run(home: &[&Rule], input: Value) -> Result<Value, TaskError> {
    stack_operation::handle(&deps(home, &input), event(input.clone())).await
}

fn execute_request() -> Value {
    json!({
        "operation": "EXECUTE_CHANGE_SET",
        "executionArn": EXECUTION,
        "stackName": STACK,
        "changeSetName": CHANGE_SET,
        "clientRequestToken": CHANGE_SET,
    })
}

#[tokio::test]
async fn a_change_set_is_executed_once_with_its_token_and_a_retry_finds_it_running() {
    let execute = mock!(CloudFormation::execute_change_set)
        .match_requests(|r| {
            r.stack_name() == Some(STACK)
                && r.change_set_name() == Some(CHANGE_SET)
                && r.client_request_token() == Some(CHANGE_SET)
        })
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let output = run(&[&execute], execute_request()).await.unwrap();
    assert_eq!(
        output,
        json!({"operation": "EXECUTE_CHANGE_SET", "alreadyDone": false})
    );
    assert_eq!(execute.num_calls(), 1);

    // The first answer was lost: CloudFormation says the change set is no longer executable.
    let not_executable = || {
        mock!(CloudFormation::execute_change_set).then_error(|| {
            ExecuteChangeSetError::InvalidChangeSetStatusException(
                InvalidChangeSetStatusException::builder()
                    .message("ChangeSet is in EXECUTE_IN_PROGRESS")
                    .build(),
            )
        })
    };
    let described = |status: ExecutionStatus| {
        mock!(CloudFormation::describe_change_set).then_output(move || {
            DescribeChangeSetOutput::builder()
                .change_set_id("arn:aws:cloudformation:us-east-1:123456789012:changeSet/x/1")
                .stack_id("arn:aws:cloudformation:us-east-1:123456789012:stack/prod-app/1")
                .execution_status(status.clone())
                .build()
        })
    };
    for (status, done) in [
        (ExecutionStatus::ExecuteInProgress, true),
        (ExecutionStatus::ExecuteComplete, true),
        (ExecutionStatus::Obsolete, false),
        (ExecutionStatus::Unavailable, false),
    ] {
        let (refused, describe) = (not_executable(), described(status.clone()));
        let result = run(&[&refused, &describe], execute_request()).await;
        if done {
            assert_eq!(result.unwrap()["alreadyDone"], json!(true), "{status:?}");
        } else {
            // A change set that did not run is an error: the workflow deletes it and notifies.
            let error = result.expect_err("not executed");
            assert_eq!(error.error_type(), "AwsError", "{status:?}: {error}");
        }
    }
}

#[tokio::test]
async fn deleting_a_change_set_already_gone_is_done_and_a_stack_is_deleted_with_its_token() {
    let gone = mock!(CloudFormation::delete_change_set).then_error(|| {
        DeleteChangeSetError::generic(ErrorMetadata::builder().code("ChangeSetNotFound").build())
    });
    let request = json!({"operation": "DELETE_CHANGE_SET", "executionArn": EXECUTION, "stackName": STACK, "changeSetName": CHANGE_SET});
    let output = run(&[&gone], request.clone()).await.unwrap();
    assert_eq!(output["alreadyDone"], json!(true));
    let deleted = mock!(CloudFormation::delete_change_set)
        .match_requests(|r| r.change_set_name() == Some(CHANGE_SET))
        .then_output(|| DeleteChangeSetOutput::builder().build());
    let output = run(&[&deleted], request).await.unwrap();
    assert_eq!(output["alreadyDone"], json!(false));

    let delete_stack = mock!(CloudFormation::delete_stack)
        .match_requests(|r| {
            r.stack_name() == Some("arn:aws:cloudformation:us-east-1:123456789012:stack/prod-app/1")
                && r.client_request_token() == Some("deploy-1")
        })
        .then_output(|| DeleteStackOutput::builder().build());
    let output = run(
        &[&delete_stack],
        json!({
            "operation": "DELETE_STACK",
            "executionArn": EXECUTION,
            "stackName": "arn:aws:cloudformation:us-east-1:123456789012:stack/prod-app/1",
            "clientRequestToken": "deploy-1",
        }),
    )
    .await
    .unwrap();
    assert_eq!(output["operation"], "DELETE_STACK");
    assert_eq!(delete_stack.num_calls(), 1);
}

/// Crafted requests: each is refused by field before any CloudFormation call (stackgate's own has
/// no rules, so a call would fail differently), even when the execution it names asked for it;
/// and no error repeats what was sent.
#[tokio::test]
async fn a_malformed_request_or_an_account_the_operator_did_not_list_reaches_no_account() {
    let with = |extra: Value| {
        let mut input = json!({"executionArn": EXECUTION, "stackName": STACK});
        for (k, v) in extra.as_object().unwrap() {
            input[k] = v.clone();
        }
        input
    };
    for (input, field) in [
        (
            with(json!({"operation": "EXECUTE_CHANGE_SET", "clientRequestToken": "t"})),
            "changeSetName",
        ),
        (
            with(json!({"operation": "EXECUTE_CHANGE_SET", "changeSetName": CHANGE_SET})),
            "clientRequestToken",
        ),
        (
            with(json!({"operation": "DELETE_STACK", "stackName": " "})),
            "stackName",
        ),
        (
            with(
                json!({"operation": "DELETE_CHANGE_SET", "changeSetName": CHANGE_SET, "destination": {"account": "44444444444x"}}),
            ),
            "account",
        ),
        (
            with(
                json!({"operation": "DELETE_CHANGE_SET", "changeSetName": CHANGE_SET, "destination": {"region": "mars-north-1x"}}),
            ),
            "region",
        ),
        // A well-formed account, but not one of TargetAccounts: no role is assumed there.
        (
            with(
                json!({"operation": "DELETE_CHANGE_SET", "changeSetName": CHANGE_SET, "destination": {"account": "444444444444", "region": null}}),
            ),
            "account",
        ),
        (with(json!({"operation": "UPDATE_STACK"})), "operation"),
        (
            with(
                json!({"operation": "DELETE_STACK", "clientRequestToken": "t", "roleArn": "arn:aws:iam::444444444444:role/x"}),
            ),
            "roleArn",
        ),
        (
            with(
                json!({"operation": "DELETE_STACK", "clientRequestToken": "t", "executionArn": "deploy-1"}),
            ),
            "executionArn",
        ),
    ] {
        let error = run(&[], input.clone()).await.expect_err("refused");
        assert!(
            matches!(&error, TaskError::InvalidInput { field: f, .. } if f == field),
            "{input}: {error:?}"
        );
        let text = error.to_string();
        for secret in ["44444444444x", "mars-north-1x", "444444444444"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}

/// Whoever may invoke the function cannot use it around the workflows: it acts only for a
/// running execution whose history shows it scheduled this very task (same operation, stack,
/// change set, token and destination). Not one that ended, not one that asked for another.
#[tokio::test]
async fn an_operation_no_running_execution_asked_for_is_refused_before_any_call() {
    let execute = mock!(CloudFormation::execute_change_set)
        .then_output(|| ExecuteChangeSetOutput::builder().build());
    let request = execute_request();
    let mut other_stack = request.clone();
    other_stack["stackName"] = json!("prod-other");
    let mut elsewhere = request.clone();
    elsewhere["destination"] = json!({"account": ELSEWHERE, "region": "eu-west-1"});
    for (asked, ended) in [
        (vec![], false),
        (vec![&other_stack], false),
        (vec![&elsewhere], false),
        // It asked, but has ended since: a replay.
        (vec![&request], true),
    ] {
        let deps = stack_operation::Deps {
            reach: Reach::new(&config(), cfn(&[&execute]), sts(&[]), role()),
            sfn: history(&asked, ended),
        };
        let error = stack_operation::handle(&deps, event(request.clone()))
            .await
            .expect_err("refused");
        assert!(
            matches!(&error, TaskError::InvalidInput { field, .. } if field == "executionArn"),
            "{error:?}"
        );
    }
    assert_eq!(execute.num_calls(), 0);
}

fn assumed(expected_role: &'static str) -> Rule {
    mock!(Sts::assume_role)
        .match_requests(move |r| {
            r.role_arn() == Some(expected_role)
                && r.external_id() == Some("stackgate-ext")
                && r.role_session_name() == Some("stackgate-stack-operation")
        })
        .then_output(|| {
            AssumeRoleOutput::builder()
                .credentials(
                    aws_sdk_sts::types::Credentials::builder()
                        .access_key_id("ASIAASSUMED")
                        .secret_access_key("assumed-secret")
                        .session_token("assumed-token")
                        .expiration(aws_smithy_types::DateTime::from_secs(4_000_000_000))
                        .build()
                        .unwrap(),
                )
                .build()
        })
}

/// Another account is reached through its deploy role, with the operator's external id, once per
/// session; another Region only with stackgate's own credentials and no role at all.
#[tokio::test]
async fn another_account_is_reached_through_its_deploy_role_once_per_session() {
    let assume = assumed("arn:aws:iam::222222222222:role/stackgate-deploy");
    // Requests are captured, not sent: their signature says who signed them, for where.
    let (http, captured) = capture_request(None);
    let capturing = config().into_builder().http_client(http).build();
    let reach = Reach::new(&capturing, cfn(&[]), sts(&[&assume]), role());
    let elsewhere = Destination::new(Some(ELSEWHERE.into()), Some("eu-west-1".into())).unwrap();
    let client = reach.cloudformation(&elsewhere).await.unwrap();
    let _ = client.describe_stacks().stack_name(STACK).send().await;
    let request = captured.expect_request();
    let authorization = request.headers().get("authorization").unwrap_or_default();
    assert!(
        authorization.contains("Credential=ASIAASSUMED/")
            && authorization.contains("/eu-west-1/cloudformation/"),
        "{authorization}"
    );
    assert!(
        request.uri().contains("cloudformation.eu-west-1."),
        "{}",
        request.uri()
    );
    reach.cloudformation(&elsewhere).await.unwrap();
    assert_eq!(assume.num_calls(), 1, "the session is kept while it lasts");

    // Only another Region: stackgate's own credentials, no role assumed.
    let region_only = Destination::new(None, Some("eu-west-1".into())).unwrap();
    let client = reach.cloudformation(&region_only).await.unwrap();
    assert_eq!(
        client.config().region().map(|r| r.as_ref()),
        Some("eu-west-1")
    );
    assert_eq!(assume.num_calls(), 1);
    assert!(reach.cloudformation(&Destination::default()).await.is_ok());

    // The role refuses: an access error that names the call, retried by nobody.
    let refused = mock!(Sts::assume_role).then_error(|| {
        AssumeRoleError::generic(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("not authorized to perform sts:AssumeRole")
                .build(),
        )
    });
    let reach = Reach::new(&config(), cfn(&[]), sts(&[&refused]), role());
    let error = reach.cloudformation(&elsewhere).await.expect_err("refused");
    assert_eq!(error.error_type(), "AwsAccessDenied", "{error}");
}

/// The destination's client, not stackgate's own, makes the call.
#[tokio::test]
async fn an_operation_elsewhere_is_made_with_the_destination_s_client() {
    let deleted = mock!(CloudFormation::delete_change_set)
        .then_output(|| DeleteChangeSetOutput::builder().build());
    let input = json!({
        "operation": "DELETE_CHANGE_SET",
        "executionArn": EXECUTION,
        "stackName": STACK,
        "changeSetName": CHANGE_SET,
        "destination": {"account": ELSEWHERE, "region": "eu-west-1"},
    });
    let deps = stack_operation::Deps {
        // Home has no rules: a call there would fail.
        reach: reach_elsewhere(cfn(&[]), cfn(&[&deleted])),
        sfn: history(&[&input], false),
    };
    let output = stack_operation::handle(&deps, event(input)).await.unwrap();
    assert_eq!(output["alreadyDone"], json!(false));
    assert_eq!(deleted.num_calls(), 1);
}
