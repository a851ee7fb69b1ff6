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

mod check;
mod creating;
mod guard;
mod inspecting;
mod missing;
mod planning;
mod policy;

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
        json!({"environmentName": "prod", "stackName": "app", "templateS3Bucket": "templates", "templateS3Key": "t.yaml"}),
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

/// A nested stack's change: updated through its own change set, or added; its template in `bucket`.
fn nested_stack_change(id: &str, change_set: Option<&str>, bucket: &str) -> Change {
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
                .after_context(nested_template_at(bucket))
                .build(),
        )
        .build()
}

/// DescribeChangeSet of the root change set, holding `root`, and of the nested change set `nested`
/// (its ARN), which adds a bucket `Site`.
fn root_and_nested(nested: &'static str, root: Vec<Change>) -> (Rule, Rule) {
    let root = mock!(CloudFormation::describe_change_set)
        .match_requests(move |r| r.change_set_name() != Some(nested))
        .then_output(move || {
            let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
            ready.changes = Some(root.clone());
            ready
        });
    let child = mock!(CloudFormation::describe_change_set)
        .match_requests(move |r| r.change_set_name() == Some(nested))
        .then_output(|| {
            let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
            ready.changes = Some(vec![resource_change(ChangeAction::Add, "Site", None)]);
            ready
        });
    (root, child)
}

/// A nested stack's `AfterContext` (`IncludePropertyValues`) whose template is in `bucket`.
fn nested_template_at(bucket: &str) -> String {
    json!({"Properties": {"TemplateURL": format!("https://{bucket}.s3.amazonaws.com/nested/network.yaml")}})
        .to_string()
}

fn check_input() -> Value {
    json!({"request": {"environmentName": "prod", "stackName": "app", "templateUrl": "https://templates.s3.amazonaws.com/t.yaml"},
           "executionName": "exec-1"})
}

fn revision_zip(path: &str, body: &str) -> Vec<u8> {
    crate::common::zip_of(&[(path, body)])
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
    crate::common::s3_object("artifacts", "rev.zip", revision_zip("infra/t.yaml", &body))
}

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
