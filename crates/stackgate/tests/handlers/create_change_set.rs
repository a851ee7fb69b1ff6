//! The plan (create-change-set: check the stack, create the change set, inspect it) and the
//! CloudFormation adapter against aws-smithy-mocks, for the AWS behaviour the local stack cannot
//! produce (throttling, access errors, pagination, nested change sets, replacements).

use std::time::Duration;

use aws_sdk_cloudformation::config::retry::RetryConfig;
use aws_sdk_cloudformation::error::ErrorMetadata;
use aws_sdk_cloudformation::operation::create_change_set::{
    CreateChangeSetError, CreateChangeSetOutput,
};
use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
use aws_sdk_cloudformation::operation::describe_stacks::{
    DescribeStacksError, DescribeStacksOutput,
};
use aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput;
use aws_sdk_cloudformation::types::{
    Change, ChangeAction, ChangeSetStatus, ChangeType, PolicyAction, Replacement, ResourceChange,
    ResourceStatus, Stack, StackEvent, StackStatus, Tag,
};
use aws_sdk_cloudformation::Client as CloudFormation;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client as S3;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use stackgate::aws::cloudformation;
use stackgate::config::Polling;
use stackgate::guardrails::Guardrails;
use stackgate::metrics;
use stackgate::tasks::create_change_set::{self, check_stack, inspect_change_set};
use stackgate::TaskError;

pub(crate) const STACK: &str = "prod-app";
pub(crate) const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/prod-app/1";

pub(crate) fn cfn(rules: &[&Rule]) -> CloudFormation {
    mock_client!(aws_sdk_cloudformation, RuleMode::MatchAny, rules, |c| c
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
        ))
}

fn s3(rules: &[&Rule]) -> S3 {
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules)
}

/// GetTemplateSummary of a template with no NoEcho parameter (the plan asks when a request has
/// parameters); tests that need another answer put theirs first.
fn no_secrets_summary() -> Rule {
    mock!(CloudFormation::get_template_summary).then_output(|| {
        aws_sdk_cloudformation::operation::get_template_summary::GetTemplateSummaryOutput::builder()
            .build()
    })
}

/// CloudFormation with the rules given, answering GetTemplateSummary without NoEcho parameters.
/// The stack's current template, without retain policies (tests that need others put theirs first).
fn template_without_policies() -> Rule {
    mock!(CloudFormation::get_template).then_output(|| {
        aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
            .template_body(r#"{"Resources": {}}"#)
            .build()
    })
}

pub(crate) fn cfn_with_summary(cfn_rules: &[&Rule]) -> CloudFormation {
    let summary = no_secrets_summary();
    let template = template_without_policies();
    let mut with_defaults = cfn_rules.to_vec();
    with_defaults.push(&summary);
    with_defaults.push(&template);
    cfn(&with_defaults)
}

pub(crate) fn polling() -> Polling {
    Polling {
        wait_budget: Duration::from_secs(5),
        interval: Duration::ZERO,
    }
}

/// The plan's dependencies: the mocked clients and the rules the test inputs are written for.
fn deps(cfn_rules: &[&Rule], s3_rules: &[&Rule]) -> create_change_set::Deps {
    let cloudformation = cfn_with_summary(cfn_rules);
    create_change_set::Deps {
        reach: stackgate::aws::reach::Reach::home_only(cloudformation.clone()),
        cloudformation,
        s3: s3(s3_rules),
        polling: polling(),
        guardrails: Guardrails::new(
            vec!["prod".into()],
            vec!["templates".into()],
            Some("artifacts".into()),
            vec![],
            vec![],
        )
        .unwrap(),
        sensitive: Default::default(),
        stateful: Default::default(),
        cloudformation_role_arn: None,
        staging_bucket: Some("staging".into()),
        template_url_base: None,
        rollback_floors: Default::default(),
        alarm_arn_prefix: None,
        region: "eu-west-1".into(),
        detect_drift: false,
        leases: super::stack_lease::free(),
        guard: Default::default(),
        approvals: None,
    }
}

pub(crate) fn event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

pub(crate) fn stack(status: StackStatus) -> DescribeStacksOutput {
    DescribeStacksOutput::builder()
        .stacks(
            Stack::builder()
                .stack_name(STACK)
                .stack_id(STACK_ID)
                .stack_status(status)
                .creation_time(aws_smithy_types::DateTime::from_secs(0))
                .tags(
                    Tag::builder()
                        .key("stackgate:managed")
                        .value("true")
                        .build(),
                )
                .tags(
                    Tag::builder()
                        .key("stackgate:environment")
                        .value("prod")
                        .build(),
                )
                .build(),
        )
        .build()
}

pub(crate) fn describe_stacks_error(code: &str, message: &str) -> DescribeStacksError {
    DescribeStacksError::generic(ErrorMetadata::builder().code(code).message(message).build())
}

/// A validated deployment with nothing but its names and template.
fn deployment() -> stackgate::request::Deployment {
    serde_json::from_value::<stackgate::request::DeployRequest>(
        json!({"environmentName": "prod", "stackName": "app", "templateUrl": "https://templates.s3.amazonaws.com/t.yaml"}),
    )
    .unwrap()
    .validate("e")
    .unwrap()
}

fn resource_change(action: ChangeAction, id: &str, replacement: Option<Replacement>) -> Change {
    Change::builder()
        .r#type(ChangeType::Resource)
        .resource_change(
            ResourceChange::builder()
                .action(action)
                .logical_resource_id(id)
                .resource_type("AWS::S3::Bucket")
                .set_replacement(replacement)
                .build(),
        )
        .build()
}

// --- DescribeStacks: what "missing" means ---------------------------------------------------------

#[tokio::test]
async fn throttling_is_retried_until_describe_stacks_succeeds() {
    let rule = mock!(CloudFormation::describe_stacks)
        .sequence()
        .error(|| describe_stacks_error("Throttling", "Rate exceeded"))
        .times(2)
        .output(|| stack(StackStatus::UpdateComplete))
        .build();
    let client = cfn(&[&rule]);
    let found = cloudformation::describe_stack(&client, STACK)
        .await
        .unwrap();
    assert_eq!(found.unwrap().status, "UPDATE_COMPLETE");
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn persistent_throttling_is_a_transient_error_not_a_missing_stack() {
    let rule = mock!(CloudFormation::describe_stacks)
        .then_error(|| describe_stacks_error("Throttling", "Rate exceeded"));
    let err = cloudformation::describe_stack(&cfn(&[&rule]), STACK)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "AwsTransientError", "{err}");
}

#[tokio::test]
async fn access_denied_is_an_error_not_a_missing_stack() {
    let rule = mock!(CloudFormation::describe_stacks).then_error(|| {
        describe_stacks_error("AccessDenied", "not authorized to perform DescribeStacks")
    });
    let err = cloudformation::describe_stack(&cfn(&[&rule]), STACK)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "AwsAccessDenied", "{err}");
    assert_eq!(rule.num_calls(), 1, "access errors are not retried");
}

#[tokio::test]
async fn only_the_does_not_exist_validation_error_means_missing() {
    let missing = mock!(CloudFormation::describe_stacks).then_error(|| {
        describe_stacks_error("ValidationError", "Stack with id prod-app does not exist")
    });
    assert_eq!(
        cloudformation::describe_stack(&cfn(&[&missing]), STACK)
            .await
            .unwrap(),
        None
    );

    let other = mock!(CloudFormation::describe_stacks)
        .then_error(|| describe_stacks_error("ValidationError", "1 validation error detected"));
    let err = cloudformation::describe_stack(&cfn(&[&other]), STACK)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "AwsError");
}

// --- check-stack ----------------------------------------------------------------------------------

fn check_input() -> Value {
    json!({"request": {"environmentName": "prod", "stackName": "app", "templateUrl": "https://templates.s3.amazonaws.com/t.yaml"},
           "executionName": "exec-1"})
}

#[tokio::test]
async fn check_stack_decides_from_the_status() {
    let cases = [
        (StackStatus::UpdateRollbackComplete, "UPDATE", "UPDATE"),
        (StackStatus::RollbackComplete, "RECREATE", "CREATE"),
        (StackStatus::CreateComplete, "UPDATE", "UPDATE"),
    ];
    for (status, action, change_set_type) in cases {
        let rule =
            mock!(CloudFormation::describe_stacks).then_output(move || stack(status.clone()));
        let out = check_stack::handle(&deps(&[&rule], &[]), event(check_input()))
            .await
            .unwrap();
        assert_eq!(out["stack"]["action"], action);
        assert_eq!(out["stack"]["changeSetType"], change_set_type);
        assert_eq!(out["deployment"]["stackName"], STACK);
    }
}

#[tokio::test]
async fn check_stack_fails_fast_on_a_busy_stack() {
    let rule =
        mock!(CloudFormation::describe_stacks).then_output(|| stack(StackStatus::UpdateInProgress));
    let err = check_stack::handle(&deps(&[&rule], &[]), event(check_input()))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "StackBusy");
}

#[tokio::test]
async fn an_empty_stack_in_review_is_recreated_but_not_one_with_resources() {
    let review =
        mock!(CloudFormation::describe_stacks).then_output(|| stack(StackStatus::ReviewInProgress));
    let empty = mock!(CloudFormation::list_stack_resources)
        .then_output(|| ListStackResourcesOutput::builder().build());
    let out = check_stack::handle(&deps(&[&review, &empty], &[]), event(check_input()))
        .await
        .unwrap();
    assert_eq!(out["stack"]["action"], "RECREATE");

    let full = mock!(CloudFormation::list_stack_resources).then_output(|| {
        ListStackResourcesOutput::builder()
            .stack_resource_summaries(
                aws_sdk_cloudformation::types::StackResourceSummary::builder()
                    .logical_resource_id("Bucket")
                    .build(),
            )
            .build()
    });
    let err = check_stack::handle(&deps(&[&review, &full], &[]), event(check_input()))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "StackNeedsAttention");
}

#[tokio::test]
async fn check_stack_rejects_bad_input_before_calling_aws() {
    let rule =
        mock!(CloudFormation::describe_stacks).then_output(|| stack(StackStatus::CreateComplete));
    let bad = json!({"request": {"environmentName": "prod", "stackName": "bad name"}, "executionName": "e"});
    let err = check_stack::handle(&deps(&[&rule], &[]), event(bad))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TaskError::InvalidInput { ref field, .. } if field == "stackName"),
        "{err:?}"
    );
    assert_eq!(rule.num_calls(), 0);
    let err = check_stack::handle(
        &deps(&[&rule], &[]),
        event(json!({"request": 3, "executionName": "e"})),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
}

// --- create-change-set ----------------------------------------------------------------------------

fn revision_zip(path: &str, body: &str) -> Vec<u8> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file(path, zip::write::SimpleFileOptions::default())
        .unwrap();
    writer.write_all(body.as_bytes()).unwrap();
    writer.finish().unwrap().into_inner()
}

/// The plan's input for a revision template; `on_unsafe` as the request gives it.
fn plan_input(on_unsafe: &str) -> Value {
    json!({
        "request": {
            "environmentName": "prod", "stackName": "app", "templatePath": "infra/t.yaml",
            "revisionS3Bucket": "artifacts", "revisionS3Key": "rev.zip",
            "parameters": {"Size": "2"}, "onUnsafe": on_unsafe
        },
        "executionName": "exec-1", "executionArn": super::stack_lease::HOLDER, "target": "primary"
    })
}

fn create_input() -> Value {
    plan_input("fail")
}

/// DescribeStacks for the plan's check: the stack missing (a CREATE) or in `status`.
fn stack_is(status: Option<StackStatus>) -> Rule {
    match status {
        Some(status) => {
            mock!(CloudFormation::describe_stacks).then_output(move || stack(status.clone()))
        }
        None => mock!(CloudFormation::describe_stacks).then_error(|| {
            describe_stacks_error("ValidationError", "Stack with id prod-app does not exist")
        }),
    }
}

fn deleted() -> Rule {
    mock!(CloudFormation::delete_change_set)
        .match_requests(|r| {
            r.change_set_name()
                .is_some_and(|n| n.starts_with("stackgate-"))
        })
        .then_output(|| {
            aws_sdk_cloudformation::operation::delete_change_set::DeleteChangeSetOutput::builder()
                .build()
        })
}

fn change_set_status(
    status: ChangeSetStatus,
    reason: Option<&'static str>,
) -> DescribeChangeSetOutput {
    DescribeChangeSetOutput::builder()
        .change_set_id("arn:aws:cloudformation:us-east-1:123456789012:changeSet/x/1")
        .stack_id(STACK_ID)
        .status(status)
        .set_status_reason(reason.map(str::to_string))
        .build()
}

/// DescribeChangeSet of a change set CloudFormation found nothing to do in.
fn no_changes() -> Rule {
    mock!(CloudFormation::describe_change_set).then_output(|| {
        change_set_status(
            ChangeSetStatus::Failed,
            Some("The submitted information didn't contain changes."),
        )
    })
}

fn revision_rule(body: String) -> Rule {
    mock!(S3::get_object)
        .match_requests(|r| r.bucket() == Some("artifacts") && r.key() == Some("rev.zip"))
        .then_output(move || {
            let zip = revision_zip("infra/t.yaml", &body);
            GetObjectOutput::builder()
                .content_length(zip.len() as i64)
                .body(ByteStream::from(zip))
                .build()
        })
}

#[tokio::test]
async fn the_no_changes_failed_change_set_is_reported_as_no_changes() {
    let get = revision_rule("Resources: {}".into());
    let create = mock!(CloudFormation::create_change_set)
        .match_requests(|r| {
            r.template_body() == Some("Resources: {}") && r.client_token().is_some()
        })
        .then_output(|| CreateChangeSetOutput::builder().build());
    let describe = mock!(CloudFormation::describe_change_set)
        .sequence()
        .output(|| change_set_status(ChangeSetStatus::CreatePending, None))
        .output(|| {
            change_set_status(
                ChangeSetStatus::Failed,
                Some("The submitted information didn't contain changes. Submit different information to create a change set."),
            )
        })
        .build();
    let (exists, delete) = (stack_is(Some(StackStatus::UpdateComplete)), deleted());
    let capture = metrics::Capture::start();
    let out = create_change_set::handle(
        &deps(&[&exists, &create, &describe, &delete], &[&get]),
        event(create_input()),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "NO_CHANGES");
    assert_eq!(
        capture.summaries(),
        ["Deployments Environment=prod Outcome=NO_CHANGES"]
    );
    assert_eq!(out["changeSet"]["outcome"], "UPDATED");
    assert_eq!(out["inspection"], Value::Null);
    assert_eq!(create.num_calls(), 1);
    assert_eq!(describe.num_calls(), 2, "polled until settled");
    assert_eq!(
        delete.num_calls(),
        1,
        "the empty change set is not left behind"
    );
}

/// `rollbackAlarms` and `monitoringMinutes`, with the operator's alarms for the environment, become
/// the change set's `RollbackConfiguration` (a name completed to the deployments' account); the
/// change set's output lists the ARNs for the wait to name the one that rolled it back.
#[tokio::test]
async fn rollback_alarms_become_the_change_sets_rollback_configuration() {
    let get = revision_rule("Resources: {}".into());
    let create = mock!(CloudFormation::create_change_set)
        .match_requests(|r| {
            let Some(config) = r.rollback_configuration() else {
                return false;
            };
            let arns: Vec<&str> = config
                .rollback_triggers()
                .iter()
                .filter_map(|t| t.arn())
                .collect();
            arns == [
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx",
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:latency",
            ] && config
                .rollback_triggers()
                .iter()
                .all(|t| t.r#type() == Some("AWS::CloudWatch::Alarm"))
                && config.monitoring_time_in_minutes() == Some(20)
        })
        .then_output(|| CreateChangeSetOutput::builder().build());
    let describe = no_changes();
    let (exists, delete) = (stack_is(Some(StackStatus::UpdateComplete)), deleted());
    let mut deps = deps(&[&exists, &create, &describe, &delete], &[&get]);
    deps.rollback_floors = stackgate::request::rollback_floors(
        &["prod=arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx".into()],
        &["prod=20".into()],
        |environment| environment == "prod",
    )
    .unwrap();
    let mut input = create_input();
    input["request"]["rollbackAlarms"] = json!(["latency"]);
    input["request"]["monitoringMinutes"] = json!(5);
    deps.alarm_arn_prefix = create_change_set::alarm_arn_prefix(
        Some("arn:aws:iam::123456789012:role/cloudformation"),
        "us-east-1",
    );
    let out = create_change_set::handle(&deps, event(input.clone()))
        .await
        .unwrap();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(
        out["changeSet"]["rollbackAlarms"],
        json!([
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-5xx",
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:latency"
        ])
    );
    // Without the account a name cannot be completed: refused, naming the field.
    deps.alarm_arn_prefix = None;
    let error = create_change_set::handle(&deps, event(input))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TaskError::InvalidInput { field, .. } if field == "rollbackAlarms"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_failed_change_set_names_its_reason_and_a_retry_reuses_the_existing_one() {
    let get = revision_rule("Resources: {}".into());
    let exists = mock!(CloudFormation::create_change_set).then_error(|| {
        CreateChangeSetError::AlreadyExistsException(
            aws_sdk_cloudformation::types::error::AlreadyExistsException::builder().build(),
        )
    });
    let describe = mock!(CloudFormation::describe_change_set).then_output(|| {
        change_set_status(
            ChangeSetStatus::Failed,
            Some("Template format error: unresolved resource"),
        )
    });
    let missing = stack_is(None);
    let delete = deleted();
    let err = create_change_set::handle(
        &deps(&[&missing, &exists, &describe, &delete], &[&get]),
        event(create_input()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "ChangeSetFailed");
    assert!(err.to_string().contains("Template format error"), "{err}");
    assert_eq!(
        delete.num_calls(),
        1,
        "the failed change set is not left behind"
    );
}

#[tokio::test]
async fn a_stack_that_became_busy_after_the_check_is_stack_busy() {
    let get = revision_rule("Resources: {}".into());
    let busy = mock!(CloudFormation::create_change_set).then_error(|| {
        CreateChangeSetError::generic(
            ErrorMetadata::builder()
                .code("ValidationError")
                .message(format!(
                    "Stack:{STACK_ID} is in UPDATE_IN_PROGRESS state and can not be updated."
                ))
                .build(),
        )
    });
    let settled = stack_is(Some(StackStatus::UpdateComplete));
    let err = create_change_set::handle(&deps(&[&settled, &busy], &[&get]), event(create_input()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TaskError::StackBusy {
            stack: STACK.into(),
            status: "UPDATE_IN_PROGRESS".into()
        }
    );
}

#[tokio::test]
async fn a_change_set_still_pending_at_the_end_of_the_budget_hands_back_to_the_state_machine() {
    let get = revision_rule("Resources: {}".into());
    let create = mock!(CloudFormation::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let describe = mock!(CloudFormation::describe_change_set)
        .then_output(|| change_set_status(ChangeSetStatus::CreateInProgress, None));
    let missing = stack_is(None);
    let mut deps = deps(&[&missing, &create, &describe], &[&get]);
    deps.polling.wait_budget = Duration::from_millis(50);
    deps.polling.interval = Duration::from_millis(10);
    let capture = metrics::Capture::start();
    let err = create_change_set::handle(&deps, event(create_input()))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ChangeSetPending");
    assert!(
        capture.summaries().is_empty(),
        "a wait handed back is no outcome"
    );
}

#[tokio::test]
async fn a_template_above_the_inline_limit_is_staged_and_passed_by_url() {
    let big = format!("Description: \"{}\"\nResources: {{}}\n", "x".repeat(60_000));
    let get = revision_rule(big);
    let put = mock!(S3::put_object)
        .match_requests(|r| {
            r.bucket() == Some("staging")
                && r.key()
                    .is_some_and(|k| k.starts_with("templates/prod-app/"))
        })
        .then_output(|| PutObjectOutput::builder().build());
    let create = mock!(CloudFormation::create_change_set)
        .match_requests(|r| {
            r.template_body().is_none()
                && r.template_url().is_some_and(|u| {
                    u.starts_with("https://staging.s3.eu-west-1.amazonaws.com/templates/prod-app/")
                })
        })
        .then_output(|| CreateChangeSetOutput::builder().build());
    let describe = mock!(CloudFormation::describe_change_set)
        .then_output(|| change_set_status(ChangeSetStatus::CreateComplete, None));
    let missing = stack_is(None);
    let out = create_change_set::handle(
        &deps(&[&missing, &create, &describe], &[&get, &put]),
        event(create_input()),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "READY");
    assert_eq!(out["changeSet"]["outcome"], "CREATED");
    assert_eq!(out["inspection"]["verdict"], "EMPTY");
    assert_eq!(out["check"]["stack"]["action"], "CREATE");
    assert_eq!(put.num_calls(), 1);
    assert_eq!(create.num_calls(), 1);
}

/// The staging bucket is a template source only for an inline template the stacks API stored
/// (`inline/<sha256>`), and only when the operator allows inline templates: never for the plan
/// step's own staged copies, and never with the option off.
#[tokio::test]
async fn the_staging_bucket_is_read_only_for_inline_templates_and_only_when_allowed() {
    const BODY: &str = "Resources: {}\n";
    let key = stackgate::guardrails::inline_key(BODY);
    let input = |key: &str| {
        json!({
            "request": {"environmentName": "prod", "stackName": "app",
                        "templateS3Bucket": "staging", "templateS3Key": key},
            "executionName": "exec-1", "executionArn": super::stack_lease::HOLDER, "target": "primary"
        })
    };
    let read_key = key.clone();
    let get = mock!(S3::get_object)
        .match_requests(move |r| r.bucket() == Some("staging") && r.key() == Some(&read_key))
        .then_output(|| {
            GetObjectOutput::builder()
                .content_length(BODY.len() as i64)
                .body(ByteStream::from_static(BODY.as_bytes()))
                .build()
        });
    let create = mock!(CloudFormation::create_change_set)
        .match_requests(|r| r.template_body() == Some(BODY))
        .then_output(|| CreateChangeSetOutput::builder().build());
    let describe = mock!(CloudFormation::describe_change_set)
        .then_output(|| change_set_status(ChangeSetStatus::CreateComplete, None));
    let missing = stack_is(None);
    let off = deps(&[&missing, &create, &describe], &[&get]);
    let mut on = deps(&[&missing, &create, &describe], &[&get]);
    on.guardrails = on.guardrails.with_inline_templates("staging".into());

    let refused = [
        (&off, key.clone()),
        (&on, "templates/prod-app/exec-1/template.yaml".to_string()),
        (&on, format!("{key}x")),
    ];
    for (deps, key) in refused {
        let err = create_change_set::handle(deps, event(input(&key)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, TaskError::InvalidInput { ref field, .. } if field == "templateS3Bucket"),
            "{key}: {err:?}"
        );
    }
    assert_eq!((get.num_calls(), create.num_calls()), (0, 0));

    let out = create_change_set::handle(&on, event(input(&key)))
        .await
        .unwrap();
    assert_eq!(out["status"], "READY", "{out}");
    assert_eq!((get.num_calls(), create.num_calls()), (1, 1));

    // An object under an inline name whose text is not the one it is named after: not deployed.
    let forged_key = stackgate::guardrails::inline_key("Resources: {Other: 1}\n");
    let forged_read = forged_key.clone();
    let forged = mock!(S3::get_object)
        .match_requests(move |r| r.key() == Some(&forged_read))
        .then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from_static(BODY.as_bytes()))
                .build()
        });
    let mut deps = self::deps(&[&missing, &create, &describe], &[&forged]);
    deps.guardrails = deps.guardrails.with_inline_templates("staging".into());
    let err = create_change_set::handle(&deps, event(input(&forged_key)))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidTemplate", "{err:?}");
    assert_eq!(create.num_calls(), 1);
}

#[tokio::test]
async fn a_zip_without_the_template_is_a_clear_error() {
    let get = mock!(S3::get_object).then_output(|| {
        let zip = revision_zip("other/file.yaml", "x");
        GetObjectOutput::builder()
            .body(ByteStream::from(zip))
            .build()
    });
    let create = mock!(CloudFormation::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let missing = stack_is(None);
    let err =
        create_change_set::handle(&deps(&[&missing, &create], &[&get]), event(create_input()))
            .await
            .unwrap_err();
    assert_eq!(err.error_type(), "InvalidTemplate");
    assert!(err.to_string().contains("infra/t.yaml"), "{err}");
    assert_eq!(create.num_calls(), 0);
}

// --- inspect-change-set ---------------------------------------------------------------------------

#[tokio::test]
async fn every_page_and_every_nested_change_set_is_inspected() {
    const NESTED: &str = "arn:aws:cloudformation:us-east-1:123456789012:changeSet/nested/2";
    let first_page = mock!(CloudFormation::describe_change_set)
        .match_requests(|r| r.change_set_name() == Some("cs") && r.next_token().is_none())
        .then_output(|| {
            DescribeChangeSetOutput::builder()
                .changes(resource_change(ChangeAction::Add, "NewQueue", None))
                .changes(
                    Change::builder()
                        .r#type(ChangeType::Resource)
                        .resource_change(
                            ResourceChange::builder()
                                .action(ChangeAction::Modify)
                                .logical_resource_id("Network")
                                .resource_type("AWS::CloudFormation::Stack")
                                .replacement(Replacement::False)
                                .change_set_id(NESTED)
                                .build(),
                        )
                        .build(),
                )
                .next_token("page-2")
                .build()
        });
    let second_page = mock!(CloudFormation::describe_change_set)
        .match_requests(|r| r.change_set_name() == Some("cs") && r.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeChangeSetOutput::builder()
                .changes(resource_change(
                    ChangeAction::Modify,
                    "Table",
                    Some(Replacement::False),
                ))
                .build()
        });
    let nested = mock!(CloudFormation::describe_change_set)
        .match_requests(|r| r.change_set_name() == Some(NESTED))
        .then_output(|| {
            DescribeChangeSetOutput::builder()
                .changes(resource_change(
                    ChangeAction::Modify,
                    "Vpc",
                    Some(Replacement::Conditional),
                ))
                .build()
        });
    let clients = deps(&[&first_page, &second_page, &nested], &[]);
    let out = inspect_change_set::inspect(&clients, STACK, "cs", false, &deployment())
        .await
        .unwrap();
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(out["verdict"], "UNSAFE");
    assert_eq!(out["totalChanges"], 4);
    assert_eq!(out["unsafeChanges"], 1);
    assert_eq!(out["changes"][0]["logicalResourceId"], "Network/Vpc");
    assert_eq!(out["changes"][0]["replacement"], "Conditional");
    assert!(out["summary"]
        .as_str()
        .unwrap()
        .starts_with("~ Network/Vpc (AWS::S3::Bucket) [MAY REPLACE]"));
    assert_eq!(second_page.num_calls(), 1);
    assert_eq!(nested.num_calls(), 1);
}

#[tokio::test]
async fn a_change_set_of_adds_and_in_place_updates_is_safe() {
    let rule = mock!(CloudFormation::describe_change_set).then_output(|| {
        DescribeChangeSetOutput::builder()
            .changes(resource_change(ChangeAction::Add, "Queue", None))
            .changes(resource_change(
                ChangeAction::Modify,
                "Bucket",
                Some(Replacement::False),
            ))
            .build()
    });
    let out = inspect_change_set::inspect(&deps(&[&rule], &[]), STACK, "cs", false, &deployment())
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(out).unwrap()["verdict"], "SAFE");
}

/// CloudFormation gives no Details for an addition; with `IncludePropertyValues` its
/// `AfterContext` holds the properties it is created with (`{"Properties": {...}}`).
#[tokio::test]
async fn an_added_resource_that_runs_as_an_existing_role_is_security_sensitive() {
    let added = |id: &str, ty: &str, after: &str| {
        Change::builder()
            .r#type(ChangeType::Resource)
            .resource_change(
                ResourceChange::builder()
                    .action(ChangeAction::Add)
                    .logical_resource_id(id)
                    .resource_type(ty)
                    .after_context(after)
                    .build(),
            )
            .build()
    };
    let rule = mock!(CloudFormation::describe_change_set)
        .match_requests(|r| r.include_property_values() == Some(true))
        .then_output(move || {
            DescribeChangeSetOutput::builder()
                .changes(added(
                    "Queue",
                    "AWS::SQS::Queue",
                    r#"{"Properties":{"QueueName":"q"}}"#,
                ))
                .changes(added(
                    "Fn",
                    "AWS::Lambda::Function",
                    r#"{"Properties":{"Handler":"bootstrap","Role":"arn:aws:iam::123456789012:role/prod-payments-FnRole"}}"#,
                ))
                .build()
        });
    let out = inspect_change_set::inspect(&deps(&[&rule], &[]), STACK, "cs", false, &deployment())
        .await
        .unwrap();
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(out["verdict"], "UNSAFE", "{out}");
    assert_eq!(out["securitySensitiveChanges"], 1);
    assert_eq!(out["changes"][0]["logicalResourceId"], "Fn");
    assert!(out["changes"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("Role"));
}

// --- the plan: what create-change-set does with what it judged ------------------------------------

/// A ready change set that removes a topic, for an existing stack.
fn unsafe_change_set() -> (Rule, Rule, Rule, Rule) {
    let get = revision_rule("Resources: {}".into());
    let exists = stack_is(Some(StackStatus::UpdateComplete));
    let create = mock!(CloudFormation::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let describe = mock!(CloudFormation::describe_change_set).then_output(|| {
        let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
        ready.changes = Some(vec![
            resource_change(ChangeAction::Remove, "Topic", None),
            resource_change(ChangeAction::Add, "Queue", None),
        ]);
        ready
    });
    (get, exists, create, describe)
}

#[tokio::test]
async fn an_unsafe_change_set_is_deleted_and_refused_when_the_request_says_fail() {
    let (get, exists, create, describe) = unsafe_change_set();
    let delete = deleted();
    let capture = metrics::Capture::start();
    let err = create_change_set::handle(
        &deps(&[&exists, &create, &describe, &delete], &[&get]),
        event(plan_input("fail")),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "UnsafeChangeSet");
    assert_eq!(
        capture.summaries(),
        [
            "Deployments Environment=prod Outcome=REFUSED",
            "Refusals Environment=prod Reason=UnsafeChangeSet"
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains("1 of 2 changes") && text.contains("- Topic"),
        "{text}"
    );
    assert_eq!(delete.num_calls(), 1, "the refused change set is deleted");
}

/// The approvals table answering GetItem for approval `APPROVAL` with `status` and `request`,
/// and the release that waited for it, in `release` status.
fn approvals(
    status: &'static str,
    request: Value,
    release: &'static str,
) -> (create_change_set::Approvals, Rule) {
    use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
    use aws_sdk_dynamodb::types::AttributeValue as Av;
    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
    let rule = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|r| {
            // Read without the task token: the plan step has no use for it.
            r.projection_expression().is_some()
                && r.expression_attribute_names()
                    .is_some_and(|n| !n.values().any(|v| v == "taskToken"))
                && r.key().unwrap()["id"].as_s().unwrap() == APPROVAL
        })
        .then_output(move || {
            GetItemOutput::builder()
                .item("id", Av::S(APPROVAL.into()))
                .item("status", Av::S(status.into()))
                .item("expiresAt", Av::N("1".into()))
                .item("decidedBy", Av::S("lead@example.com".into()))
                .item("executionArn", Av::S(RELEASE.into()))
                .item("request", Av::S(request.to_string()))
                .build()
        });
    let described = mock!(aws_sdk_sfn::Client::describe_execution)
        .match_requests(|r| r.execution_arn() == Some(RELEASE))
        .then_output(move || {
            DescribeExecutionOutput::builder()
                .execution_arn(RELEASE)
                .state_machine_arn("arn:aws:states:us-east-1:123456789012:stateMachine:Release")
                .status(release.into())
                .start_date(aws_sdk_sfn::primitives::DateTime::from_secs(0))
                .build()
                .unwrap()
        });
    let approvals = create_change_set::Approvals {
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]),
        sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&described]),
        table: "approvals".into(),
    };
    (approvals, rule)
}

const APPROVAL: &str = "0123456789abcdef0123456789abcdef";
const RELEASE: &str = "arn:aws:states:us-east-1:123456789012:execution:Release:release-k1";

/// A release's stack executes an unsafe plan without an approval of its own only on its
/// release's: one read from the approvals table, approved by a person, listing this very plan,
/// while the release still runs, and only if the apply judges the plan as people saw it. Anything
/// else refuses before the stack is taken, or (a judgement that changed) asks a person again.
#[tokio::test]
async fn a_release_s_plan_executes_only_on_an_approved_release_approval_that_lists_it() {
    use aws_sdk_cloudformation::types::ExecutionStatus;
    use create_change_set::{change_set_name, Target};
    let planned = change_set_name("deploy-pplan", Target::Primary);
    let mut input = plan_input("approve");
    input["request"]["applyPlan"] = json!("deploy-pplan");
    input["request"]["requestedBy"] = json!("apiKey:releaser");
    input["executionName"] = json!(stackgate::api::plans::apply_execution_name(
        "deploy-pplan",
        "apiKey:releaser"
    ));
    let exists = stack_is(Some(StackStatus::UpdateComplete));
    let get = revision_rule("Resources: {}".into());
    let kept = mock!(CloudFormation::describe_change_set)
        .match_requests(move |r| r.change_set_name() == Some(planned.as_str()))
        .then_output(|| {
            let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
            ready.execution_status = Some(ExecutionStatus::Available);
            ready.changes = Some(vec![resource_change(ChangeAction::Remove, "Topic", None)]);
            ready
        });
    // What the apply judges, as the release's plan judged it before.
    let judged = create_change_set::handle(&deps(&[&exists, &kept], &[&get]), event(input.clone()))
        .await
        .unwrap();
    assert_eq!(judged["releaseApproval"], Value::Null, "no approval named");
    let summary = judged["inspection"]["summary"]
        .as_str()
        .unwrap()
        .to_string();
    input["request"]["releaseApproval"] = json!(APPROVAL);
    let release = |plan: &str, summary: &str| {
        json!({"kind": "release", "release": "r1", "requestedBy": "apiKey:releaser",
               "stacks": [{"stackName": "prod-app", "plan": plan, "changeSetName": "c",
                           "verdict": "UNSAFE", "unsafeChanges": 1, "totalChanges": 1, "summary": summary,
                           "summaryDigest": stackgate::approval::summary_digest(summary)}]})
    };
    let (approved, read) = approvals("approved", release("deploy-pplan", &summary), "RUNNING");
    let mut with_approval = deps(&[&exists, &kept], &[&get]);
    with_approval.approvals = Some(approved);
    let out = create_change_set::handle(&with_approval, event(input.clone()))
        .await
        .unwrap();
    assert_eq!(out["inspection"]["verdict"], "UNSAFE", "{out}");
    assert_eq!(
        out["releaseApproval"],
        json!({"approvalId": APPROVAL, "approvedBy": "lead@example.com"})
    );
    assert_eq!(read.num_calls(), 1);

    // People saw another diff (drift or a Guard rule found since, say): a person decides again.
    let (otherwise, _) = approvals(
        "approved",
        release("deploy-pplan", "~ Bucket (AWS::S3::Bucket) drifted"),
        "RUNNING",
    );
    let mut changed = deps(&[&exists, &kept], &[&get]);
    changed.approvals = Some(otherwise);
    let out = create_change_set::handle(&changed, event(input.clone()))
        .await
        .unwrap();
    assert_eq!(out["status"], "READY", "{out}");
    assert_eq!(out["releaseApproval"], Value::Null, "{out}");

    // A refused apply consumes the plan, as any apply that fails for good does.
    let delete = deleted();
    let mut deployment = release("deploy-pplan", &summary);
    deployment["kind"] = json!("deployment");
    deployment["stackName"] = json!("prod-app");
    for (status, request, release_status) in [
        ("pending", release("deploy-pplan", &summary), "RUNNING"),
        ("rejected", release("deploy-pplan", &summary), "RUNNING"),
        ("approved", release("deploy-pother", &summary), "RUNNING"),
        ("approved", deployment, "RUNNING"),
        // The release was stopped (or ended): its yes executes nothing more.
        ("approved", release("deploy-pplan", &summary), "ABORTED"),
    ] {
        let (refusing, _) = approvals(status, request, release_status);
        let mut deps = deps(&[&exists, &kept, &delete], &[&get]);
        deps.approvals = Some(refusing);
        let err = create_change_set::handle(&deps, event(input.clone()))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput", "{status}: {err}");
        assert!(err.to_string().contains("releaseApproval"), "{err}");
        assert!(!err.to_string().contains(APPROVAL), "{err}");
    }
    // No approvals table: nothing can vouch for the plan.
    let err = create_change_set::handle(
        &deps(&[&exists, &kept, &delete], &[&get]),
        event(input.clone()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("releaseApproval"), "{err}");
    assert_eq!(delete.num_calls(), 6);
    // Only with applyPlan: a new plan cannot borrow a release's approval.
    let mut fresh = plan_input("approve");
    fresh["request"]["releaseApproval"] = json!(APPROVAL);
    let err = create_change_set::handle(&with_approval, event(fresh))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("releaseApproval"), "{err}");
    assert_eq!(read.num_calls(), 1);
}

/// `applyPlan`: the plan's change set (found by the plan's name), judged again; never a new one.
#[tokio::test]
async fn applying_a_plan_executes_its_change_set_or_nothing() {
    use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetError;
    use aws_sdk_cloudformation::types::ExecutionStatus;
    use create_change_set::{change_set_name, Target};
    let planned = change_set_name("deploy-kplan", Target::Primary);
    let mut input = plan_input("approve");
    input["request"]["applyPlan"] = json!("deploy-kplan");
    input["request"]["requestedBy"] = json!("apiKey:planner");
    input["executionName"] = json!(stackgate::api::plans::apply_execution_name(
        "deploy-kplan",
        "apiKey:planner"
    ));
    let exists = stack_is(Some(StackStatus::UpdateComplete));
    let create = mock!(CloudFormation::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let get = revision_rule("Resources: {}".into());
    let planned_name = planned.clone();
    let kept = mock!(CloudFormation::describe_change_set)
        .match_requests(move |r| r.change_set_name() == Some(planned_name.as_str()))
        .then_output(|| {
            let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
            ready.execution_status = Some(ExecutionStatus::Available);
            ready.changes = Some(vec![resource_change(ChangeAction::Remove, "Topic", None)]);
            ready
        });
    let capture = metrics::Capture::start();
    let out = create_change_set::handle(
        &deps(&[&exists, &create, &kept], &[&get]),
        event(input.clone()),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "READY", "{out}");
    assert_eq!(out["changeSet"]["changeSetName"], planned.as_str());
    assert_eq!(out["changeSet"]["outcome"], "UPDATED");
    assert_eq!(out["inspection"]["verdict"], "UNSAFE", "judged again");
    assert_eq!(
        create.num_calls(),
        0,
        "no change set is made to apply a plan"
    );
    assert!(
        capture.summaries().iter().all(|m| !m.starts_with("Plans")),
        "applying is not counted as a second plan: {:?}",
        capture.summaries()
    );

    // Gone (the stack changed, or the plan expired), or no longer executable: nothing is made.
    let gone = mock!(CloudFormation::describe_change_set).then_error(|| {
        DescribeChangeSetError::ChangeSetNotFoundException(
            aws_sdk_cloudformation::types::error::ChangeSetNotFoundException::builder().build(),
        )
    });
    let obsolete = mock!(CloudFormation::describe_change_set).then_output(|| {
        let mut stale = change_set_status(ChangeSetStatus::CreateComplete, None);
        stale.execution_status = Some(ExecutionStatus::Obsolete);
        stale
    });
    for describe in [&gone, &obsolete] {
        let err = create_change_set::handle(
            &deps(&[&exists, &create, describe], &[&get]),
            event(input.clone()),
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_type(), "PlanObsolete", "{err}");
        assert!(err.to_string().contains("deploy-kplan"), "{err}");
    }
    assert_eq!(create.num_calls(), 0);

    // An input that merely names a plan (a pipeline's file, a crafted start) applies nothing and
    // deletes nothing: only the execution the API starts for the plan's caller applies it.
    let delete = deleted();
    for (execution, requested_by) in [
        ("deploy-kcrafted".to_string(), "apiKey:planner"),
        (
            stackgate::api::plans::apply_execution_name("deploy-kplan", "apiKey:planner"),
            "apiKey:someone-else",
        ),
    ] {
        let mut crafted = input.clone();
        crafted["executionName"] = json!(execution);
        crafted["request"]["requestedBy"] = json!(requested_by);
        let err = create_change_set::handle(
            &deps(&[&exists, &create, &kept, &delete], &[&get]),
            event(crafted),
        )
        .await
        .unwrap_err();
        assert_eq!(err.error_type(), "InvalidInput", "{err}");
        assert!(err.to_string().contains("applyPlan"), "{err}");
    }
    assert_eq!((create.num_calls(), delete.num_calls()), (0, 0));

    // An apply that fails for good before executing (the stack is not stackgate's now) consumes
    // the plan: its change set is deleted, since the stopped plan no longer would.
    let foreign = mock!(CloudFormation::describe_stacks).then_output(|| {
        let mut described = stack(StackStatus::UpdateComplete);
        if let Some(stacks) = described.stacks.as_mut() {
            stacks[0].tags = None;
        }
        described
    });
    let err = create_change_set::handle(
        &deps(&[&foreign, &create, &kept, &delete], &[&get]),
        event(input.clone()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "StackNotManaged", "{err}");
    assert_eq!((create.num_calls(), delete.num_calls()), (0, 1));
}

#[tokio::test]
async fn an_unsafe_change_set_is_kept_for_approval_or_blue_green() {
    for on_unsafe in ["approve", "blueGreen"] {
        let (get, exists, create, describe) = unsafe_change_set();
        let delete = deleted();
        let capture = metrics::Capture::start();
        let out = create_change_set::handle(
            &deps(&[&exists, &create, &describe, &delete], &[&get]),
            event(plan_input(on_unsafe)),
        )
        .await
        .unwrap();
        assert_eq!(out["status"], "READY");
        assert_eq!(out["inspection"]["verdict"], "UNSAFE");
        assert_eq!(
            capture.summaries(),
            [
                "Plans Environment=prod Verdict=UNSAFE",
                "PlanSeconds Environment=prod"
            ]
        );
        assert_eq!(out["check"]["deployment"]["onUnsafe"], on_unsafe);
        assert_eq!(delete.num_calls(), 0, "{on_unsafe}: kept for the workflow");
    }
}

/// A metric's dimensions are readable by anyone with the account's CloudWatch access: a request's
/// own text (here an environment the operator does not manage, holding a secret) is never one.
#[tokio::test]
async fn a_refusal_is_counted_without_naming_what_the_request_said() {
    let capture = metrics::Capture::start();
    let mut input = plan_input("fail");
    input["request"]["environmentName"] = json!("hunter2-secret");
    let err = create_change_set::handle(&deps(&[], &[]), event(input))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidInput");
    assert_eq!(
        capture.summaries(),
        [
            "Deployments Outcome=REFUSED",
            "Refusals Reason=InvalidInput"
        ]
    );
    for document in capture.documents() {
        assert!(!document.to_string().contains("hunter2"), "{document}");
    }
}

#[tokio::test]
async fn a_blue_green_plan_holds_the_new_stack_too() {
    // Another execution deploys straight to the name the blue/green stack would take: the plan
    // waits for it rather than create its stack under that execution.
    let (get, exists, create, describe) = unsafe_change_set();
    let mut input = plan_input("blueGreen");
    input["request"]["blueGreenSuffix"] = json!("green");
    input["target"] = json!("blueGreen");
    let mut deps = deps(&[&exists, &create, &describe], &[&get]);
    deps.leases = super::stack_lease::held("prod-app-green");
    let error = create_change_set::handle(&deps, event(input.clone()))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "StackQueued", "{error}");
    assert_eq!(create.num_calls(), 0, "nothing planned on a held stack");

    // The same stack held, the primary plan (which creates no such stack) goes on.
    input["target"] = json!("primary");
    let out = create_change_set::handle(&deps, event(input))
        .await
        .unwrap();
    assert_eq!(out["status"], "READY");
}

#[tokio::test]
async fn a_stack_that_never_came_up_is_reported_unusable_and_nothing_is_created() {
    let (get, create) = (
        revision_rule("Resources: {}".into()),
        mock!(CloudFormation::create_change_set)
            .then_output(|| CreateChangeSetOutput::builder().build()),
    );
    let failed = stack_is(Some(StackStatus::RollbackComplete));
    let not_ours = mock!(CloudFormation::describe_change_set).then_error(|| {
        aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetError::ChangeSetNotFoundException(
            aws_sdk_cloudformation::types::error::ChangeSetNotFoundException::builder().build(),
        )
    });
    let out = create_change_set::handle(
        &deps(&[&failed, &create, &not_ours], &[&get]),
        event(create_input()),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "STACK_UNUSABLE");
    assert_eq!(out["changeSet"], Value::Null);
    assert_eq!(create.num_calls(), 0);

    // A second planning pass carries the first plan in its state: it is not part of the request.
    let mut again = create_input();
    again["request"]["plan"] = out.clone();
    let out =
        create_change_set::handle(&deps(&[&failed, &create, &not_ours], &[&get]), event(again))
            .await
            .unwrap();
    assert_eq!(out["status"], "STACK_UNUSABLE");
}

#[tokio::test]
async fn a_retried_plan_keeps_waiting_on_its_own_create_change_set() {
    // Our CREATE change set put the new stack in REVIEW_IN_PROGRESS: that is not a failed stack.
    let get = revision_rule("Resources: {}".into());
    let review = stack_is(Some(StackStatus::ReviewInProgress));
    let empty = mock!(CloudFormation::list_stack_resources)
        .then_output(|| ListStackResourcesOutput::builder().build());
    let create = mock!(CloudFormation::create_change_set)
        .match_requests(|r| {
            r.change_set_type() == Some(&aws_sdk_cloudformation::types::ChangeSetType::Create)
        })
        .then_output(|| CreateChangeSetOutput::builder().build());
    let ours = mock!(CloudFormation::describe_change_set)
        .then_output(|| change_set_status(ChangeSetStatus::CreateComplete, None));
    let out = create_change_set::handle(
        &deps(&[&review, &empty, &create, &ours], &[&get]),
        event(create_input()),
    )
    .await
    .unwrap();
    assert_eq!(out["status"], "READY");
    assert_eq!(out["changeSet"]["outcome"], "CREATED");
    assert_eq!(create.num_calls(), 1);
}

// --- wait-stack -----------------------------------------------------------------------------------

pub(crate) fn stack_event(id: &str, ty: &str, status: ResourceStatus, reason: &str) -> StackEvent {
    StackEvent::builder()
        .stack_id(STACK_ID)
        .event_id(format!("{id}-{}", status.as_str()))
        .stack_name(STACK)
        .logical_resource_id(id)
        .resource_type(ty)
        .resource_status(status)
        .resource_status_reason(reason)
        .timestamp(aws_smithy_types::DateTime::from_secs(0))
        .build()
}

// --- Policy v2: data loss and access, not churn ------------------------------------------------------

/// A resource change as DescribeChangeSet documents it, with the `PolicyAction` AWS gives (moto
/// gives none).
fn typed_change(
    action: ChangeAction,
    id: &str,
    resource_type: &str,
    replacement: Option<Replacement>,
    policy_action: Option<PolicyAction>,
) -> Change {
    Change::builder()
        .r#type(ChangeType::Resource)
        .resource_change(
            ResourceChange::builder()
                .action(action)
                .logical_resource_id(id)
                .resource_type(resource_type)
                .set_replacement(replacement)
                .set_policy_action(policy_action)
                .build(),
        )
        .build()
}

/// Plans an update whose change set holds `changes`, the stack's current template being
/// `template`; the plan's output, or its error.
async fn plan_update(changes: Vec<Change>, template: &'static str) -> Result<Value, TaskError> {
    plan_update_with(changes, Vec::new(), template).await
}

/// `plan_update` with the change set's parameters as DescribeChangeSet lists them.
async fn plan_update_with(
    changes: Vec<Change>,
    parameters: Vec<aws_sdk_cloudformation::types::Parameter>,
    template: &'static str,
) -> Result<Value, TaskError> {
    let get = revision_rule("Resources: {}".into());
    let exists = stack_is(Some(StackStatus::UpdateComplete));
    let create = mock!(CloudFormation::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let describe = mock!(CloudFormation::describe_change_set).then_output(move || {
        let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
        ready.changes = Some(changes.clone());
        ready.parameters = (!parameters.is_empty()).then(|| parameters.clone());
        ready
    });
    let current = mock!(CloudFormation::get_template)
        .match_requests(|r| {
            r.stack_name() == Some(STACK)
                && r.template_stage()
                    == Some(&aws_sdk_cloudformation::types::TemplateStage::Processed)
        })
        .then_output(move || {
            aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
                .template_body(template)
                .build()
        });
    let delete = deleted();
    create_change_set::handle(
        &deps(&[&exists, &create, &describe, &current, &delete], &[&get]),
        event(plan_input("fail")),
    )
    .await
}

#[tokio::test]
async fn a_sam_code_update_is_ready_without_a_person() {
    // AutoPublishAlias: a new version, the previous one (DeletionPolicy Retain) removed.
    let changes = vec![
        typed_change(
            ChangeAction::Add,
            "FnVersion5e6f7a8b9c",
            "AWS::Lambda::Version",
            None,
            None,
        ),
        typed_change(
            ChangeAction::Remove,
            "FnVersion1a2b3c4d5e",
            "AWS::Lambda::Version",
            None,
            Some(PolicyAction::Retain),
        ),
        typed_change(
            ChangeAction::Modify,
            "FnAliaslive",
            "AWS::Lambda::Alias",
            Some(Replacement::False),
            None,
        ),
        typed_change(
            ChangeAction::Modify,
            "Fn",
            "AWS::Lambda::Function",
            Some(Replacement::False),
            None,
        ),
        typed_change(
            ChangeAction::Remove,
            "ApiDeployment0a1b",
            "AWS::ApiGateway::Deployment",
            None,
            Some(PolicyAction::Delete),
        ),
    ];
    let plan = plan_update(changes, r#"{"Resources": {}}"#).await.unwrap();
    assert_eq!(plan["status"], "READY");
    assert_eq!(plan["inspection"]["verdict"], "SAFE", "{plan:#}");
    assert_eq!(plan["inspection"]["unsafeChanges"], 0);
}

#[tokio::test]
async fn policy_action_decides_a_data_stores_removal_or_replacement() {
    for (action, replacement, policy_action, safe) in [
        (ChangeAction::Remove, None, PolicyAction::Delete, false),
        (ChangeAction::Remove, None, PolicyAction::Retain, true),
        (ChangeAction::Remove, None, PolicyAction::Snapshot, true),
        (
            ChangeAction::Modify,
            Some(Replacement::True),
            PolicyAction::ReplaceAndDelete,
            false,
        ),
        (
            ChangeAction::Modify,
            Some(Replacement::True),
            PolicyAction::ReplaceAndRetain,
            true,
        ),
        (
            ChangeAction::Modify,
            Some(Replacement::True),
            PolicyAction::ReplaceAndSnapshot,
            true,
        ),
    ] {
        let changes = vec![typed_change(
            action.clone(),
            "Db",
            "AWS::RDS::DBInstance",
            replacement.clone(),
            Some(policy_action.clone()),
        )];
        // The current template says Retain: PolicyAction, what CloudFormation will do, wins.
        let retained = r#"{"Resources": {"Db": {"Type": "AWS::RDS::DBInstance", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}}}"#;
        let result = plan_update(changes, retained).await;
        match (safe, result) {
            (true, Ok(plan)) => {
                assert_eq!(plan["inspection"]["verdict"], "SAFE", "{policy_action:?}")
            }
            (false, Err(error)) => {
                assert_eq!(error.error_type(), "UnsafeChangeSet", "{policy_action:?}");
                assert!(
                    error.to_string().contains("Db (AWS::RDS::DBInstance)")
                        && error.to_string().contains("data lost"),
                    "{error}"
                );
            }
            (safe, other) => panic!("{policy_action:?}: expected safe={safe}, got {other:?}"),
        }
    }
}

/// With `IncludePropertyValues`, a value CloudFormation cannot know before execution reads
/// `{{changeSet:KNOWN_AFTER_APPLY}}` (the shape AWS documents for DescribeChangeSet's
/// `AfterContext` and `Details[].Target.AfterValue`). For a data store it counts as dynamic when the
/// property can force a replacement, whatever `Replacement` says.
#[tokio::test]
async fn a_data_store_property_known_only_at_execution_is_judged_dynamic() {
    use aws_sdk_cloudformation::types::{
        ChangeSource, EvaluationType, RequiresRecreation, ResourceAttribute, ResourceChangeDetail,
        ResourceTargetDefinition,
    };
    let change = |recreation: RequiresRecreation| {
        Change::builder()
            .r#type(ChangeType::Resource)
            .resource_change(
                ResourceChange::builder()
                    .action(ChangeAction::Modify)
                    .logical_resource_id("Orders")
                    .resource_type("AWS::DynamoDB::Table")
                    .replacement(Replacement::False)
                    .details(
                        ResourceChangeDetail::builder()
                            .target(
                                ResourceTargetDefinition::builder()
                                    .attribute(ResourceAttribute::Properties)
                                    .name("SSESpecification")
                                    .path("/Properties/SSESpecification/KMSMasterKeyId")
                                    .before_value(
                                        "arn:aws:kms:us-east-1:123456789012:key/1",
                                    )
                                    .after_value("{{changeSet:KNOWN_AFTER_APPLY}}")
                                    .requires_recreation(recreation)
                                    .build(),
                            )
                            .evaluation(EvaluationType::Dynamic)
                            .change_source(ChangeSource::ResourceAttribute)
                            .causing_entity("Key.Arn")
                            .build(),
                    )
                    .before_context(r#"{"Properties":{"SSESpecification":{"KMSMasterKeyId":"arn:aws:kms:us-east-1:123456789012:key/1"}}}"#)
                    .after_context(r#"{"Properties":{"SSESpecification":{"KMSMasterKeyId":"{{changeSet:KNOWN_AFTER_APPLY}}"}}}"#)
                    .build(),
            )
            .build()
    };
    let template = "Resources:\n  Orders:\n    Type: AWS::DynamoDB::Table\n";
    let error = plan_update(vec![change(RequiresRecreation::Conditionally)], template)
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "UnsafeChangeSet");
    assert!(error.to_string().contains("KNOWN_AFTER_APPLY"), "{error}");
    let plan = plan_update(vec![change(RequiresRecreation::Never)], template)
        .await
        .unwrap();
    assert_eq!(plan["inspection"]["verdict"], "SAFE", "{plan:#}");
}

/// A replacement's refusal names the properties that force it (`RequiresRecreation` `Always` or
/// `Conditionally`, AWS's documented Details shape), not the other properties it changes.
#[tokio::test]
async fn a_refused_replacement_names_the_property_that_forces_it() {
    use aws_sdk_cloudformation::types::{
        ChangeSource, EvaluationType, RequiresRecreation, ResourceAttribute, ResourceChangeDetail,
        ResourceTargetDefinition,
    };
    let detail = |name: &str, recreation: RequiresRecreation| {
        ResourceChangeDetail::builder()
            .target(
                ResourceTargetDefinition::builder()
                    .attribute(ResourceAttribute::Properties)
                    .name(name)
                    .requires_recreation(recreation)
                    .build(),
            )
            .evaluation(EvaluationType::Static)
            .change_source(ChangeSource::ParameterReference)
            .causing_entity("HashKeyElementName")
            .build()
    };
    for (replacement, recreation) in [
        (Replacement::True, RequiresRecreation::Always),
        (Replacement::Conditional, RequiresRecreation::Conditionally),
    ] {
        let change = Change::builder()
            .r#type(ChangeType::Resource)
            .resource_change(
                ResourceChange::builder()
                    .action(ChangeAction::Modify)
                    .logical_resource_id("myDynamoDBTable")
                    .resource_type("AWS::DynamoDB::Table")
                    .replacement(replacement.clone())
                    .details(detail("AttributeDefinitions", RequiresRecreation::Never))
                    .details(detail("KeySchema", recreation))
                    .build(),
            )
            .build();
        let template = "Resources:\n  myDynamoDBTable:\n    Type: AWS::DynamoDB::Table\n";
        let error = plan_update(vec![change], template).await.unwrap_err();
        assert_eq!(error.error_type(), "UnsafeChangeSet");
        let message = error.to_string();
        assert!(
            message.contains("myDynamoDBTable (changing KeySchema)")
                && !message.contains("AttributeDefinitions"),
            "{replacement:?}: {message}"
        );
    }
}

#[tokio::test]
async fn without_policy_action_the_current_templates_policy_decides() {
    // moto's change sets carry no PolicyAction: the stack's template says what removal does.
    let removal = || {
        vec![typed_change(
            ChangeAction::Remove,
            "Table",
            "AWS::DynamoDB::Table",
            None,
            None,
        )]
    };
    let retained =
        "Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain\n";
    let plan = plan_update(removal(), retained).await.unwrap();
    assert_eq!(plan["inspection"]["verdict"], "SAFE");
    assert_eq!(
        plan["inspection"]["changes"][0]["reason"],
        "removes AWS::DynamoDB::Table Table; DeletionPolicy Retain: the data is kept"
    );
    let deleted = "Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n";
    let error = plan_update(removal(), deleted).await.unwrap_err();
    assert_eq!(error.error_type(), "UnsafeChangeSet");
    // A conditional replacement of a data store stays unsafe, whatever its policies.
    let conditional = vec![typed_change(
        ChangeAction::Modify,
        "Table",
        "AWS::DynamoDB::Table",
        Some(Replacement::Conditional),
        None,
    )];
    let retained_both = "Resources:\n  Table:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain\n    UpdateReplacePolicy: Retain\n";
    assert!(plan_update(conditional, retained_both).await.is_err());
}

/// With `IncludePropertyValues`, AWS's DescribeChangeSet gives each changed property's `Path`,
/// `BeforeValue` and `AfterValue`, and writes `****` for a NoEcho parameter. People see the values
/// in the plan's output and summary (the approval email, the API, the pipeline message); a secret
/// never: not a NoEcho parameter's, not one under a secret name (also inside a JSON value), not a
/// dynamic reference.
#[tokio::test]
async fn approvers_see_before_and_after_values_and_never_a_secret() {
    use aws_sdk_cloudformation::types::{
        ChangeSource, EvaluationType, Parameter, RequiresRecreation, ResourceAttribute,
        ResourceChangeDetail, ResourceTargetDefinition,
    };
    const SECRET: &str = "hunter2-s3cr3t-value";
    let detail = |path: &str, before: Option<&str>, after: &str, parameter: Option<&str>| {
        let name = path
            .trim_start_matches("/Properties/")
            .split('/')
            .next()
            .unwrap();
        ResourceChangeDetail::builder()
            .target(
                ResourceTargetDefinition::builder()
                    .attribute(ResourceAttribute::Properties)
                    .name(name)
                    .path(path)
                    .set_before_value(before.map(str::to_string))
                    .after_value(after)
                    .requires_recreation(RequiresRecreation::Never)
                    .build(),
            )
            .evaluation(EvaluationType::Static)
            .change_source(if parameter.is_some() {
                ChangeSource::ParameterReference
            } else {
                ChangeSource::DirectModification
            })
            .set_causing_entity(parameter.map(str::to_string))
            .build()
    };
    let modify = |id: &str, kind: &str, details: Vec<ResourceChangeDetail>| {
        Change::builder()
            .r#type(ChangeType::Resource)
            .resource_change(
                ResourceChange::builder()
                    .action(ChangeAction::Modify)
                    .logical_resource_id(id)
                    .resource_type(kind)
                    .replacement(Replacement::False)
                    .set_details(Some(details))
                    .build(),
            )
            .build()
    };
    let environment = format!(r#"{{"Variables":{{"MODE":"fast","DB_PASSWORD":"{SECRET}"}}}}"#);
    let changes = vec![
        modify(
            "Table",
            "AWS::DynamoDB::Table",
            vec![detail(
                "/Properties/ProvisionedThroughput/ReadCapacityUnits",
                Some("5"),
                "10",
                None,
            )],
        ),
        modify(
            "Fn",
            "AWS::Lambda::Function",
            vec![
                detail("/Properties/Environment", None, &environment, None),
                detail(
                    "/Properties/Description",
                    Some("old"),
                    SECRET,
                    Some("DbPassword"),
                ),
                detail(
                    "/Properties/Layers",
                    None,
                    "{{resolve:secretsmanager:prod/db:SecretString:password}}",
                    None,
                ),
            ],
        ),
        modify(
            "Db",
            "AWS::RDS::DBInstance",
            vec![detail(
                "/Properties/MasterUserPassword",
                Some(SECRET),
                SECRET,
                None,
            )],
        ),
    ];
    let parameters = vec![
        Parameter::builder()
            .parameter_key("DbPassword")
            .parameter_value("****")
            .build(),
        Parameter::builder()
            .parameter_key("Env")
            .parameter_value("prod")
            .build(),
    ];
    let template = "Resources: {}\n";
    let outcome = plan_update_with(changes, parameters, template).await;
    let shown = match &outcome {
        Ok(plan) => plan.to_string(),
        Err(error) => error.to_string(),
    };
    assert!(!shown.contains(SECRET), "a secret was shown: {shown}");
    assert!(
        !shown.contains("resolve:"),
        "a dynamic reference was shown: {shown}"
    );
    assert!(
        shown.contains("/Properties/ProvisionedThroughput/ReadCapacityUnits: 5 -> 10"),
        "{shown}"
    );
    assert!(
        shown.contains("fast"),
        "what is not secret is shown: {shown}"
    );
    assert!(
        shown.contains("/Properties/MasterUserPassword: (masked) -> (masked)"),
        "{shown}"
    );
    let plan = outcome.expect("updates in place are safe");
    let table = &plan["inspection"]["changes"][0];
    assert_eq!(
        table["values"],
        json!([{"path": "/Properties/ProvisionedThroughput/ReadCapacityUnits", "before": "5", "after": "10"}])
    );
}

/// Drift detection as AWS documents it: DetectStackDrift's id, DescribeStackDriftDetectionStatus
/// until DETECTION_COMPLETE (or DETECTION_FAILED), then DescribeStackResourceDrifts filtered to
/// MODIFIED and DELETED, with property differences (paths; their values are never read).
mod drift {
    use super::*;
    use aws_sdk_cloudformation::operation::describe_stack_drift_detection_status::DescribeStackDriftDetectionStatusOutput;
    use aws_sdk_cloudformation::operation::describe_stack_resource_drifts::DescribeStackResourceDriftsOutput;
    use aws_sdk_cloudformation::operation::detect_stack_drift::DetectStackDriftOutput;
    use aws_sdk_cloudformation::types::{
        DifferenceType, PropertyDifference, StackDriftDetectionStatus, StackDriftStatus,
        StackResourceDrift, StackResourceDriftStatus,
    };

    const SECRET: &str = "s3cr3t-in-a-drifted-property";

    fn resource_drift(
        id: &str,
        kind: &str,
        status: StackResourceDriftStatus,
    ) -> StackResourceDrift {
        let mut drift = StackResourceDrift::builder()
            .stack_id("arn:aws:cloudformation:us-east-1:123456789012:stack/prod-app/1")
            .logical_resource_id(id)
            .resource_type(kind)
            .stack_resource_drift_status(status.clone())
            .timestamp(aws_smithy_types::DateTime::from_secs(1_700_000_000));
        if status == StackResourceDriftStatus::Modified {
            drift = drift.property_differences(
                PropertyDifference::builder()
                    .property_path("/Environment/Variables/DB_PASSWORD")
                    .expected_value("expected")
                    .actual_value(SECRET)
                    .difference_type(DifferenceType::NotEqual)
                    .build(),
            );
        }
        drift.build()
    }

    /// The plan of an update with drift detection on, `found` drifted, `detection` the detection's
    /// end state; the plan's output or error, and whether a change set was created.
    async fn plan_with_drift(
        on_drift: Option<&str>,
        detection: StackDriftDetectionStatus,
        found: Vec<StackResourceDrift>,
    ) -> (Result<Value, TaskError>, usize) {
        let get = revision_rule("Resources: {}".into());
        let exists = stack_is(Some(StackStatus::UpdateComplete));
        let detect = mock!(CloudFormation::detect_stack_drift)
            .match_requests(|r| r.stack_name().is_some_and(|s| s.contains("stack/prod-app")))
            .then_output(|| {
                DetectStackDriftOutput::builder()
                    .stack_drift_detection_id("d-1")
                    .build()
            });
        let status = mock!(CloudFormation::describe_stack_drift_detection_status)
            .sequence()
            .output(|| {
                DescribeStackDriftDetectionStatusOutput::builder()
                    .stack_id("prod-app")
                    .stack_drift_detection_id("d-1")
                    .detection_status(StackDriftDetectionStatus::DetectionInProgress)
                    .timestamp(aws_smithy_types::DateTime::from_secs(0))
                    .build()
            })
            .output(move || {
                DescribeStackDriftDetectionStatusOutput::builder()
                    .stack_id("prod-app")
                    .stack_drift_detection_id("d-1")
                    .detection_status(detection.clone())
                    .stack_drift_status(StackDriftStatus::Drifted)
                    .timestamp(aws_smithy_types::DateTime::from_secs(0))
                    .build()
            })
            .build();
        let drifts = mock!(CloudFormation::describe_stack_resource_drifts)
            .match_requests(|r| {
                r.stack_resource_drift_status_filters()
                    == [
                        StackResourceDriftStatus::Modified,
                        StackResourceDriftStatus::Deleted,
                    ]
            })
            .then_output(move || {
                DescribeStackResourceDriftsOutput::builder()
                    .set_stack_resource_drifts(Some(found.clone()))
                    .build()
            });
        let create = mock!(CloudFormation::create_change_set)
            .then_output(|| CreateChangeSetOutput::builder().build());
        let describe = mock!(CloudFormation::describe_change_set).then_output(|| {
            let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
            ready.changes = Some(vec![typed_change(
                ChangeAction::Modify,
                "Fn",
                "AWS::Lambda::Function",
                Some(Replacement::False),
                None,
            )]);
            ready
        });
        // DescribeChangeSet answers for any name here, as for a retried plan whose first attempt
        // made the change set: a refusal deletes it.
        let delete = deleted();
        let mut deps = deps(
            &[
                &exists, &detect, &status, &drifts, &create, &describe, &delete,
            ],
            &[&get],
        );
        deps.detect_drift = true;
        deps.polling.interval = Duration::from_millis(1);
        let mut input = plan_input("fail");
        if let Some(on_drift) = on_drift {
            input["request"]["onDrift"] = json!(on_drift);
        }
        let result = create_change_set::handle(&deps, event(input)).await;
        (result, create.num_calls())
    }

    #[tokio::test]
    async fn a_deleted_table_refuses_the_update_before_any_change_set() {
        let table = resource_drift(
            "Table",
            "AWS::DynamoDB::Table",
            StackResourceDriftStatus::Deleted,
        );
        let (result, created) = plan_with_drift(
            None,
            StackDriftDetectionStatus::DetectionComplete,
            vec![table],
        )
        .await;
        let error = result.unwrap_err();
        assert_eq!(error.error_type(), "StackDrifted");
        assert!(
            error
                .to_string()
                .contains("! Table (AWS::DynamoDB::Table) drifted: DELETED"),
            "{error}"
        );
        assert_eq!(created, 0, "no change set is made over drifted data");
    }

    #[tokio::test]
    async fn drift_of_what_holds_no_data_is_listed_first_and_never_its_values() {
        let function = resource_drift(
            "Fn",
            "AWS::Lambda::Function",
            StackResourceDriftStatus::Modified,
        );
        let (result, created) = plan_with_drift(
            None,
            StackDriftDetectionStatus::DetectionComplete,
            vec![function],
        )
        .await;
        let plan = result.unwrap();
        assert_eq!(created, 1);
        let inspection = &plan["inspection"];
        assert_eq!(inspection["drift"]["detection"], "DRIFTED");
        assert_eq!(inspection["drift"]["decision"], "proceed");
        assert_eq!(inspection["needsApproval"], false);
        let summary = inspection["summary"].as_str().unwrap();
        assert!(
            summary.starts_with("! Fn (AWS::Lambda::Function) drifted: MODIFIED (/Environment/Variables/DB_PASSWORD)\n~ Fn"),
            "{summary}"
        );
        assert!(!plan.to_string().contains(SECRET));
    }

    #[tokio::test]
    async fn on_drift_approve_asks_a_person_and_fail_refuses_what_is_unknown() {
        let function = || {
            resource_drift(
                "Fn",
                "AWS::Lambda::Function",
                StackResourceDriftStatus::Modified,
            )
        };
        let (result, _) = plan_with_drift(
            Some("approve"),
            StackDriftDetectionStatus::DetectionComplete,
            vec![function()],
        )
        .await;
        let plan = result.unwrap();
        assert_eq!(plan["inspection"]["verdict"], "SAFE");
        assert_eq!(plan["inspection"]["needsApproval"], true);

        let (result, created) = plan_with_drift(
            Some("fail"),
            StackDriftDetectionStatus::DetectionFailed,
            vec![],
        )
        .await;
        let error = result.unwrap_err();
        assert_eq!(error.error_type(), "StackDrifted");
        assert!(error.to_string().contains("drift unknown"), "{error}");
        assert_eq!(created, 0);

        let (result, _) = plan_with_drift(
            Some("ignore"),
            StackDriftDetectionStatus::DetectionComplete,
            vec![resource_drift(
                "Table",
                "AWS::DynamoDB::Table",
                StackResourceDriftStatus::Deleted,
            )],
        )
        .await;
        // Running over drifted data is a data loss: `ignore` counts only where the operator lets
        // requests accept one (not in these deps), so a person decides.
        assert_eq!(
            result.unwrap()["inspection"]["drift"]["decision"],
            "needsPerson"
        );
    }

    #[tokio::test]
    async fn on_drift_is_refused_where_drift_is_not_detected() {
        let get = revision_rule("Resources: {}".into());
        let exists = stack_is(Some(StackStatus::UpdateComplete));
        let mut input = plan_input("fail");
        input["request"]["onDrift"] = json!("ignore");
        let error = create_change_set::handle(&deps(&[&exists], &[&get]), event(input))
            .await
            .unwrap_err();
        assert_eq!(error.error_type(), "InvalidInput");
        assert!(error.to_string().contains("onDrift"), "{error}");
    }
}

/// Who may accept a data loss: the request (`allowDataLoss`) and the template's `Metadata`, each
/// only where the operator lets them, never for what the operator protects.
mod data_loss {
    use super::*;
    use stackgate::stateful::{DataLossIntent, StatefulTypes};

    /// The change set removes `Topic` (typed a bucket: it holds data) and adds a queue; the stack's
    /// templates, current and next, are `template`.
    async fn plan(
        stateful: StatefulTypes,
        allow: Option<&[&str]>,
        template: &'static str,
    ) -> (Result<Value, TaskError>, usize) {
        let (get, exists, create, describe) = unsafe_change_set();
        let delete = deleted();
        let current = mock!(CloudFormation::get_template).then_output(move || {
            aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
                .template_body(template)
                .build()
        });
        let mut deps = deps(&[&exists, &create, &describe, &delete, &current], &[&get]);
        deps.stateful = stateful;
        let mut input = plan_input("fail");
        if let Some(ids) = allow {
            input["request"]["allowDataLoss"] = json!(ids);
        }
        let result = create_change_set::handle(&deps, event(input)).await;
        (result, create.num_calls())
    }

    fn letting(template: bool, request: bool) -> StatefulTypes {
        StatefulTypes::default().with_operator_floor(vec![], DataLossIntent { template, request })
    }

    const PLAIN: &str = r#"{"Resources": {"Topic": {"Type": "AWS::S3::Bucket"}}}"#;
    const INTENT: &str = "Resources:\n  Topic:\n    Type: AWS::S3::Bucket\n    Metadata:\n      stackgate:\n        allowRemove: true\n";

    #[tokio::test]
    async fn a_request_accepts_a_data_loss_only_where_the_operator_lets_it() {
        // Not let: refused before any change set is made, naming the field.
        let (result, created) = plan(StatefulTypes::default(), Some(&["Topic"]), PLAIN).await;
        let error = result.unwrap_err();
        assert_eq!(error.error_type(), "InvalidInput");
        assert!(error.to_string().contains("allowDataLoss"), "{error}");
        assert_eq!(created, 0);
        // Let: the removal is safe, and says who accepted it.
        let (result, _) = plan(letting(false, true), Some(&["Topic"]), PLAIN).await;
        let out = result.unwrap();
        assert_eq!(out["inspection"]["verdict"], "SAFE");
        let reason = out["inspection"]["changes"][0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("data lost; accepted by the request (allowDataLoss)"),
            "{reason}"
        );
        // Another id accepts nothing.
        let (result, _) = plan(letting(false, true), Some(&["Queue"]), PLAIN).await;
        assert_eq!(result.unwrap_err().error_type(), "UnsafeChangeSet");
    }

    #[tokio::test]
    async fn a_templates_intent_counts_only_where_the_operator_lets_it() {
        let (result, _) = plan(StatefulTypes::default(), None, INTENT).await;
        assert_eq!(result.unwrap_err().error_type(), "UnsafeChangeSet");
        let (result, _) = plan(letting(false, true), None, INTENT).await;
        assert_eq!(result.unwrap_err().error_type(), "UnsafeChangeSet");
        let (result, _) = plan(letting(true, false), None, INTENT).await;
        let out = result.unwrap();
        assert_eq!(out["inspection"]["verdict"], "SAFE");
        let reason = out["inspection"]["changes"][0]["reason"].as_str().unwrap();
        assert!(
            reason.contains("accepted by the template (Metadata stackgate.allowRemove)"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn nobody_accepts_the_loss_of_what_the_operator_protects() {
        let by_id = letting(true, true);
        let by_id = StatefulTypes::default()
            .with_operator_floor(vec!["prod-app:Topic".into()], by_id.intent);
        let by_type = StatefulTypes::new(vec!["AWS::S3::Bucket".into()], vec![])
            .with_operator_floor(vec![], letting(true, true).intent);
        for stateful in [by_id, by_type] {
            let (result, _) = plan(stateful.clone(), Some(&["Topic"]), INTENT).await;
            let error = result.unwrap_err();
            assert_eq!(error.error_type(), "UnsafeChangeSet", "{stateful:?}");
            assert!(!error.to_string().contains("accepted by"), "{error}");
        }
    }
}

/// An update in place that shortens how long data is kept deletes data (AWS's documented
/// `IncludePropertyValues` shape): a log group's retention cut from 30 days to 7 is refused, one
/// raised to 90 deploys.
#[tokio::test]
async fn a_shorter_retention_in_place_is_a_data_loss_a_longer_one_is_not() {
    use aws_sdk_cloudformation::types::{
        ChangeSource, EvaluationType, RequiresRecreation, ResourceAttribute, ResourceChangeDetail,
        ResourceTargetDefinition,
    };
    let retention = |before: &str, after: &str| {
        let detail = ResourceChangeDetail::builder()
            .target(
                ResourceTargetDefinition::builder()
                    .attribute(ResourceAttribute::Properties)
                    .name("RetentionInDays")
                    .path("/Properties/RetentionInDays")
                    .before_value(before)
                    .after_value(after)
                    .requires_recreation(RequiresRecreation::Never)
                    .build(),
            )
            .evaluation(EvaluationType::Static)
            .change_source(ChangeSource::DirectModification)
            .build();
        vec![Change::builder()
            .r#type(ChangeType::Resource)
            .resource_change(
                ResourceChange::builder()
                    .action(ChangeAction::Modify)
                    .logical_resource_id("Logs")
                    .resource_type("AWS::Logs::LogGroup")
                    .replacement(Replacement::False)
                    .details(detail)
                    .build(),
            )
            .build()]
    };
    let refused = plan_update(retention("30", "7"), r#"{"Resources": {}}"#)
        .await
        .unwrap_err();
    assert_eq!(refused.error_type(), "UnsafeChangeSet");
    let text = refused.to_string();
    assert!(
        text.contains("~ Logs (AWS::Logs::LogGroup)")
            && text.contains("updates AWS::Logs::LogGroup Logs in place: shortens RetentionInDays"),
        "{text}"
    );
    let longer = plan_update(retention("30", "90"), r#"{"Resources": {}}"#)
        .await
        .unwrap();
    assert_eq!(longer["inspection"]["verdict"], "SAFE");
}

// --- Guard rules over the change set's template ---------------------------------------------------

const PUBLIC_BUCKET: &str = r#"{"Resources": {"Site": {"Type": "AWS::S3::Bucket", "Properties": {"AccessControl": "PublicRead"}}, "Table": {"Type": "AWS::DynamoDB::Table"}}}"#;

/// A plan of a safe change set (one addition) whose template is `template`, under `guard`.
async fn guarded_plan(
    guard: stackgate::guard::Settings,
    template: &'static str,
    s3_rules: &[&Rule],
) -> (Result<Value, stackgate::TaskError>, Rule, Rule) {
    let get = revision_rule("Resources: {}".into());
    let exists = stack_is(Some(StackStatus::UpdateComplete));
    let create = mock!(CloudFormation::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let describe = mock!(CloudFormation::describe_change_set).then_output(|| {
        let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
        ready.changes = Some(vec![resource_change(ChangeAction::Add, "Site", None)]);
        ready
    });
    // What CloudFormation will deploy: the change set's processed template.
    let next = mock!(CloudFormation::get_template)
        .match_requests(|r| {
            r.change_set_name().is_some()
                && r.template_stage()
                    == Some(&aws_sdk_cloudformation::types::TemplateStage::Processed)
        })
        .then_output(move || {
            aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
                .template_body(template)
                .build()
        });
    let delete = deleted();
    let mut s3 = vec![&get];
    s3.extend_from_slice(s3_rules);
    let mut deps = deps(&[&exists, &create, &describe, &next, &delete], &s3);
    deps.guard = guard;
    let result = create_change_set::handle(&deps, event(plan_input("fail"))).await;
    (result, next, delete)
}

fn guard_settings(rules: Option<&str>, on_failure: &str) -> stackgate::guard::Settings {
    stackgate::guard::Settings::new(Some("on"), rules, Some(on_failure)).unwrap()
}

#[tokio::test]
async fn a_template_failing_a_guard_rule_is_refused_naming_the_rule_and_resource() {
    let (result, next, delete) =
        guarded_plan(guard_settings(None, "refuse"), PUBLIC_BUCKET, &[]).await;
    let error = result.unwrap_err();
    assert_eq!(error.error_type(), "GuardRuleFailed");
    let text = error.to_string();
    assert!(text.contains("S3_BUCKET_NOT_PUBLIC: Site"), "{text}");
    assert!(
        !text.contains("PublicRead"),
        "no value from the template: {text}"
    );
    assert_eq!(
        next.num_calls(),
        1,
        "the change set's own template is judged"
    );
    assert_eq!(delete.num_calls(), 1, "the refused change set is deleted");
}

#[tokio::test]
async fn a_guard_failure_asks_a_person_when_the_operator_says_approve() {
    let (result, _, delete) =
        guarded_plan(guard_settings(None, "approve"), PUBLIC_BUCKET, &[]).await;
    let plan = result.unwrap();
    assert_eq!(plan["status"], "READY");
    let inspection = &plan["inspection"];
    assert_eq!(
        inspection["verdict"], "SAFE",
        "the changes themselves are safe"
    );
    assert_eq!(inspection["needsApproval"], true);
    assert_eq!(
        inspection["guardFailures"],
        json!(["S3_BUCKET_NOT_PUBLIC: Site"])
    );
    assert!(inspection["summary"]
        .as_str()
        .unwrap()
        .starts_with("! Guard S3_BUCKET_NOT_PUBLIC: Site"));
    assert_eq!(delete.num_calls(), 0, "kept for the person");
}

#[tokio::test]
async fn a_template_passing_every_rule_goes_on_and_guard_off_reads_nothing() {
    const PRIVATE: &str = r#"{"Resources": {"Site": {"Type": "AWS::S3::Bucket"}}}"#;
    let (result, _, _) = guarded_plan(guard_settings(None, "refuse"), PRIVATE, &[]).await;
    let plan = result.unwrap();
    assert_eq!(plan["inspection"]["needsApproval"], false);
    assert_eq!(plan["inspection"].get("guardFailures"), None);

    let (result, next, _) = guarded_plan(Default::default(), PUBLIC_BUCKET, &[]).await;
    assert_eq!(result.unwrap()["status"], "READY");
    assert_eq!(next.num_calls(), 0, "no rules, no template read");
}

#[tokio::test]
async fn the_operators_rules_file_is_read_for_every_plan_and_fails_closed() {
    let rules = mock!(S3::get_object)
        .match_requests(|r| r.bucket() == Some("rules") && r.key() == Some("team/tables.guard"))
        .then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from_static(
                    b"rule TABLES_HAVE_PITR when Resources.*[ Type == 'AWS::DynamoDB::Table' ] !empty {\n  Resources.*[ Type == 'AWS::DynamoDB::Table' ].Properties.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled == true\n}\n",
                ))
                .build()
        });
    let settings = stackgate::guard::Settings::new(
        Some("off"),
        Some("s3://rules/team/tables.guard"),
        Some("refuse"),
    )
    .unwrap();
    let (result, _, _) = guarded_plan(settings.clone(), PUBLIC_BUCKET, &[&rules]).await;
    let text = result.unwrap_err().to_string();
    assert!(text.contains("TABLES_HAVE_PITR: Table"), "{text}");
    assert!(
        !text.contains("S3_BUCKET_NOT_PUBLIC"),
        "defaults off: {text}"
    );
    assert_eq!(rules.num_calls(), 1);

    // A rules file that is not there fails the plan, named by its setting: nothing goes unchecked.
    let missing = mock!(S3::get_object)
        .match_requests(|r| r.bucket() == Some("rules"))
        .then_error(|| {
            aws_sdk_s3::operation::get_object::GetObjectError::NoSuchKey(
                aws_sdk_s3::types::error::NoSuchKey::builder().build(),
            )
        });
    let (result, _, delete) = guarded_plan(settings, PUBLIC_BUCKET, &[&missing]).await;
    let error = result.unwrap_err();
    assert_eq!(error.error_type(), "InvalidInput", "{error}");
    assert!(error.to_string().contains("GUARD_RULES"), "{error}");
    assert_eq!(delete.num_calls(), 1, "the unjudged change set is deleted");
}

#[tokio::test]
async fn a_nested_stack_is_held_to_the_rules_through_its_own_change_set() {
    const NESTED: &str = "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/nested-1/abc";
    let nested_stack = |id: &str, change_set: Option<&str>| {
        Change::builder()
            .r#type(ChangeType::Resource)
            .resource_change(
                ResourceChange::builder()
                    .action(if change_set.is_some() {
                        ChangeAction::Modify
                    } else {
                        ChangeAction::Add
                    })
                    .logical_resource_id(id)
                    .resource_type("AWS::CloudFormation::Stack")
                    .set_change_set_id(change_set.map(str::to_string))
                    .build(),
            )
            .build()
    };
    let get = revision_rule("Resources: {}".into());
    let exists = stack_is(Some(StackStatus::UpdateComplete));
    let create = mock!(CloudFormation::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let root = mock!(CloudFormation::describe_change_set)
        .match_requests(|r| r.change_set_name() != Some(NESTED))
        .then_output(move || {
            let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
            ready.changes = Some(vec![
                nested_stack("Child", Some(NESTED)),
                // No change set of its own listed: its template cannot be read.
                nested_stack("Other", None),
            ]);
            ready
        });
    let child = mock!(CloudFormation::describe_change_set)
        .match_requests(|r| r.change_set_name() == Some(NESTED))
        .then_output(|| {
            let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
            ready.changes = Some(vec![resource_change(ChangeAction::Add, "Site", None)]);
            ready
        });
    // The root template is clean; the bucket is opened inside the nested stack.
    let root_template = mock!(CloudFormation::get_template)
        .match_requests(|r| {
            r.change_set_name().is_some_and(|n| n != NESTED) && r.stack_name() == Some(STACK)
        })
        .then_output(|| {
            aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
                .template_body(
                    r#"{"Resources": {"Child": {"Type": "AWS::CloudFormation::Stack"}}}"#,
                )
                .build()
        });
    let child_template = mock!(CloudFormation::get_template)
        .match_requests(|r| r.change_set_name() == Some(NESTED) && r.stack_name().is_none())
        .then_output(|| {
            aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
                .template_body(PUBLIC_BUCKET)
                .build()
        });
    let delete = deleted();
    let mut deps = deps(
        &[
            &exists,
            &create,
            &child,
            &root,
            &child_template,
            &root_template,
            &delete,
        ],
        &[&get],
    );
    deps.guard = guard_settings(None, "refuse");
    let error = create_change_set::handle(&deps, event(plan_input("fail")))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "GuardRuleFailed", "{error}");
    let text = error.to_string();
    assert!(text.contains("S3_BUCKET_NOT_PUBLIC: Child/Site"), "{text}");
    assert!(text.contains("NESTED_STACK_NOT_EVALUATED: Other"), "{text}");
    assert_eq!(child_template.num_calls(), 1);
    assert_eq!(delete.num_calls(), 1);
}

/// A release's stack in another account and Region: the change set is made there, with that
/// account's service role, while the template is read with stackgate's own credentials; the
/// stack's lease names where it lives. An account the operator did not list is refused before
/// any call.
#[tokio::test]
async fn a_plan_elsewhere_is_made_there_with_that_account_s_service_role() {
    let get = revision_rule("Resources: {}".into());
    let create = mock!(CloudFormation::create_change_set)
        .match_requests(|r| {
            r.role_arn() == Some("arn:aws:iam::222222222222:role/stackgate-cloudformation")
                && r.template_body() == Some("Resources: {}")
        })
        .then_output(|| CreateChangeSetOutput::builder().build());
    let describe = no_changes();
    let (exists, delete) = (stack_is(Some(StackStatus::UpdateComplete)), deleted());
    // stackgate's own CloudFormation answers nothing: every call must go elsewhere.
    let mut deps = deps(&[], &[&get]);
    // stackgate's own Region, as its Reach's.
    deps.region = "us-east-1".into();
    deps.cloudformation_role_arn = Some("arn:aws:iam::123456789012:role/cloudformation".into());
    deps.reach = super::stack_operation::reach_elsewhere(
        deps.cloudformation.clone(),
        cfn_with_summary(&[&exists, &create, &describe, &delete]),
    );
    let mut input = create_input();
    input["request"]["account"] = json!("222222222222");
    input["request"]["region"] = json!("eu-west-1");
    let out = create_change_set::handle(&deps, event(input.clone()))
        .await
        .unwrap();
    assert_eq!(create.num_calls(), 1);
    assert_eq!(get.num_calls(), 1, "the template is read at home");
    assert_eq!(
        out["check"]["deployment"]["destination"],
        json!({"account": "222222222222", "region": "eu-west-1"})
    );
    assert_eq!(
        out["check"]["stack"]["leaseKey"],
        "prod-app@222222222222/eu-west-1"
    );

    input["request"]["account"] = json!("444444444444");
    let error = create_change_set::handle(&deps, event(input))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TaskError::InvalidInput { field, .. } if field == "account"),
        "{error:?}"
    );
    assert!(!error.to_string().contains("444444444444"), "{error}");
    assert_eq!(create.num_calls(), 1);
}
