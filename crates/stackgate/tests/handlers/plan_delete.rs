//! plan-delete against aws-smithy-mocks: a deletion is judged resource by resource, all pages, with
//! the retain policies of the stack's template; data lost is refused or goes to people; a stack
//! stackgate did not make, or a crafted request, is refused before anything is read.

use aws_sdk_cloudformation::operation::describe_stacks::DescribeStacksOutput;
use aws_sdk_cloudformation::operation::get_template::GetTemplateOutput;
use aws_sdk_cloudformation::operation::list_stack_resources::ListStackResourcesOutput;
use aws_sdk_cloudformation::types::{ResourceStatus, Stack, StackResourceSummary, StackStatus};
use aws_sdk_cloudformation::Client as CloudFormation;
use aws_smithy_mocks::{mock, Rule};
use serde_json::{json, Value};
use stackgate::guardrails::Guardrails;
use stackgate::tasks::plan_delete;
use stackgate::TaskError;

use super::create_change_set::{cfn, describe_stacks_error, event, stack, STACK, STACK_ID};
use super::stack_lease::HOLDER;

fn deps(rules: &[&Rule]) -> plan_delete::Deps {
    plan_delete::Deps {
        cloudformation: cfn(rules),
        guardrails: Guardrails::new(vec!["prod".into()], vec![], None, vec![], vec![]).unwrap(),
        sensitive: Default::default(),
        stateful: Default::default(),
        leases: super::stack_lease::free(),
    }
}

fn resource(id: &str, resource_type: &str, status: ResourceStatus) -> StackResourceSummary {
    StackResourceSummary::builder()
        .logical_resource_id(id)
        .resource_type(resource_type)
        .resource_status(status)
        .last_updated_timestamp(aws_smithy_types::DateTime::from_secs(0))
        .build()
}

/// A SAM app with a table: the function, its role and version hold no data; the table does.
fn app_resources() -> Rule {
    mock!(CloudFormation::list_stack_resources).then_output(|| {
        ListStackResourcesOutput::builder()
            .stack_resource_summaries(resource(
                "Fn",
                "AWS::Lambda::Function",
                ResourceStatus::CreateComplete,
            ))
            .stack_resource_summaries(resource(
                "FnRole",
                "AWS::IAM::Role",
                ResourceStatus::CreateComplete,
            ))
            .stack_resource_summaries(resource(
                "FnVersion1a2b",
                "AWS::Lambda::Version",
                ResourceStatus::CreateComplete,
            ))
            .stack_resource_summaries(resource(
                "Orders",
                "AWS::DynamoDB::Table",
                ResourceStatus::UpdateComplete,
            ))
            .build()
    })
}

fn template(body: &'static str) -> Rule {
    mock!(CloudFormation::get_template)
        .then_output(move || GetTemplateOutput::builder().template_body(body).build())
}

fn managed_stack() -> Rule {
    mock!(CloudFormation::describe_stacks).then_output(|| stack(StackStatus::UpdateComplete))
}

fn request(on_unsafe: &str) -> Value {
    json!({"request": {"stackName": STACK, "stackId": STACK_ID, "onUnsafe": on_unsafe, "requestedBy": "key-1"},
           "executionArn": HOLDER})
}

fn stack_in(status: StackStatus, parent: Option<&str>) -> Rule {
    let parent = parent.map(str::to_string);
    mock!(CloudFormation::describe_stacks).then_output(move || {
        let mut output = stack(status.clone());
        if let Some(found) = output.stacks.as_mut().and_then(|s| s.first_mut()) {
            found.parent_id = parent.clone();
        }
        output
    })
}

const NO_POLICIES: &str = r#"{"Resources": {"Orders": {"Type": "AWS::DynamoDB::Table"}}}"#;

#[tokio::test]
async fn deleting_a_table_without_a_retain_policy_is_refused_naming_it() {
    let (describe, list, get) = (managed_stack(), app_resources(), template(NO_POLICIES));
    let capture = stackgate::metrics::Capture::start();
    let error = plan_delete::handle(&deps(&[&describe, &list, &get]), event(request("fail")))
        .await
        .unwrap_err();
    assert_eq!(
        capture.summaries(),
        [
            "Deployments Environment=prod Outcome=REFUSED",
            "Refusals Environment=prod Reason=UnsafeDeletion"
        ]
    );
    let TaskError::UnsafeDeletion {
        stack,
        unsafe_resources,
        total_resources,
        summary,
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(
        (stack.as_str(), *unsafe_resources, *total_resources),
        (STACK, 1, 4)
    );
    assert!(
        summary.starts_with("- Orders (AWS::DynamoDB::Table): removes AWS::DynamoDB::Table Orders; DeletionPolicy Delete: data lost"),
        "{summary}"
    );
    assert_eq!(error.error_type(), "UnsafeDeletion");
    assert_eq!(
        get.num_calls(),
        1,
        "the policies come from the stack's template"
    );
}

#[tokio::test]
async fn an_unsafe_deletion_goes_to_people_when_the_request_says_approve() {
    let (describe, list, get) = (managed_stack(), app_resources(), template(NO_POLICIES));
    let output = plan_delete::handle(&deps(&[&describe, &list, &get]), event(request("approve")))
        .await
        .unwrap();
    assert_eq!(output["judgement"]["verdict"], "UNSAFE");
    assert_eq!(output["judgement"]["unsafeChanges"], 1);
    assert_eq!(output["deletion"]["onUnsafe"], "approve");
    assert_eq!(output["deletion"]["stackId"], STACK_ID);
    assert_eq!(output["deletion"]["approvalTimeoutSeconds"], 86400);
    assert_eq!(output["environmentName"], "prod");
}

#[tokio::test]
async fn a_retained_table_and_a_stateless_stack_are_deleted_without_a_person() {
    let (describe, list) = (managed_stack(), app_resources());
    let get = template(
        "Resources:\n  Orders:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain\n",
    );
    let output = plan_delete::handle(&deps(&[&describe, &list, &get]), event(request("fail")))
        .await
        .unwrap();
    assert_eq!(output["judgement"]["verdict"], "SAFE", "{output:#}");
    assert!(output["judgement"]["changes"][3]["reason"]
        .as_str()
        .unwrap()
        .contains("DeletionPolicy Retain: the data is kept"));
}

#[tokio::test]
async fn every_page_of_resources_is_judged_and_deleted_ones_are_skipped() {
    let describe = managed_stack();
    let list = mock!(CloudFormation::list_stack_resources)
        .sequence()
        .output(|| {
            ListStackResourcesOutput::builder()
                .stack_resource_summaries(resource(
                    "Fn",
                    "AWS::Lambda::Function",
                    ResourceStatus::CreateComplete,
                ))
                .stack_resource_summaries(resource(
                    "OldTable",
                    "AWS::DynamoDB::Table",
                    ResourceStatus::DeleteComplete,
                ))
                .next_token("page-2")
                .build()
        })
        .output(|| {
            ListStackResourcesOutput::builder()
                .stack_resource_summaries(resource(
                    "Orders",
                    "AWS::DynamoDB::Table",
                    ResourceStatus::CreateComplete,
                ))
                .build()
        })
        .build();
    let get = template(NO_POLICIES);
    let output = plan_delete::handle(&deps(&[&describe, &list, &get]), event(request("approve")))
        .await
        .unwrap();
    assert_eq!(list.num_calls(), 2);
    assert_eq!(output["judgement"]["totalChanges"], 2, "{output:#}");
    assert_eq!(
        output["judgement"]["changes"][0]["logicalResourceId"],
        "Orders"
    );
}

#[tokio::test]
async fn a_template_the_reader_cannot_trust_keeps_nothing() {
    // An anchor: which policy belongs to which resource is not certain, so none counts.
    let (describe, list) = (managed_stack(), app_resources());
    let get = template(
        "Resources:\n  Orders: &t\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain\n",
    );
    let error = plan_delete::handle(&deps(&[&describe, &list, &get]), event(request("fail")))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "UnsafeDeletion");
}

#[tokio::test]
async fn a_stack_gone_already_is_an_empty_deletion() {
    let describe = mock!(CloudFormation::describe_stacks).then_error(|| {
        describe_stacks_error("ValidationError", "Stack with id prod-app does not exist")
    });
    let output = plan_delete::handle(&deps(&[&describe]), event(request("fail")))
        .await
        .unwrap();
    assert_eq!(output["judgement"]["verdict"], "EMPTY");
}

#[tokio::test]
async fn a_stack_stackgate_did_not_make_is_not_judged_or_deleted() {
    let untagged = mock!(CloudFormation::describe_stacks).then_output(|| {
        DescribeStacksOutput::builder()
            .stacks(
                Stack::builder()
                    .stack_name(STACK)
                    .stack_id(STACK_ID)
                    .stack_status(StackStatus::CreateComplete)
                    .creation_time(aws_smithy_types::DateTime::from_secs(0))
                    .build(),
            )
            .build()
    });
    let list = app_resources();
    let error = plan_delete::handle(&deps(&[&untagged, &list]), event(request("approve")))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "StackNotManaged");
    assert_eq!(list.num_calls(), 0);
}

#[tokio::test]
async fn crafted_requests_are_refused_before_anything_is_read() {
    let describe = managed_stack();
    let wrap = |request: Value| json!({"request": request, "executionArn": HOLDER});
    for (input, field) in [
        // A stack of an environment stackgate does not manage.
        (
            wrap(
                json!({"stackName": "dev-app", "stackId": STACK_ID.replace("prod-app", "dev-app")}),
            ),
            None,
        ),
        // Another stack's id under a managed name.
        (
            wrap(
                json!({"stackName": STACK, "stackId": STACK_ID.replace("prod-app", "prod-other")}),
            ),
            Some("stackId"),
        ),
        // The workflow's own judgement, smuggled in.
        (
            wrap(
                json!({"stackName": STACK, "stackId": STACK_ID, "judgement": {"verdict": "SAFE"}}),
            ),
            Some("request.judgement"),
        ),
        (
            json!({"request": {"stackName": STACK, "stackId": STACK_ID}, "plan": {}, "executionArn": HOLDER}),
            Some("plan"),
        ),
        (
            wrap(json!({"stackName": STACK, "stackId": STACK_ID, "onUnsafe": "blueGreen"})),
            Some("request.onUnsafe"),
        ),
        // The request at the top level, as a direct StartExecution would pass it.
        (
            json!({"stackName": STACK, "stackId": STACK_ID}),
            Some("stackName"),
        ),
    ] {
        let error = plan_delete::handle(&deps(&[&describe]), event(input))
            .await
            .unwrap_err();
        match field {
            Some(field) => assert!(
                matches!(&error, TaskError::InvalidInput { field: f, .. } if f == field),
                "{error:?}"
            ),
            None => assert_eq!(error.error_type(), "StackNotManaged"),
        }
    }
    assert_eq!(describe.num_calls(), 0);
}

#[tokio::test]
async fn a_busy_stack_is_not_judged_a_nested_one_is_deleted_through_its_parent() {
    let busy = stack_in(StackStatus::UpdateInProgress, None);
    let list = app_resources();
    let error = plan_delete::handle(&deps(&[&busy, &list]), event(request("approve")))
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "StackBusy");
    let nested = stack_in(
        StackStatus::CreateComplete,
        Some("arn:aws:cloudformation:us-east-1:123456789012:stack/prod-parent/2"),
    );
    let error = plan_delete::handle(&deps(&[&nested, &list]), event(request("approve")))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, TaskError::InvalidInput { field, .. } if field == "stackName"),
        "{error:?}"
    );
    assert_eq!(list.num_calls(), 0);
}

#[tokio::test]
async fn a_stack_whose_last_operation_failed_part_way_needs_a_person() {
    let (list, get) = (
        app_resources(),
        template(
            "Resources:\n  Orders:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain\n",
        ),
    );
    let failed = stack_in(StackStatus::UpdateRollbackFailed, None);
    let error = plan_delete::handle(&deps(&[&failed, &list, &get]), event(request("fail")))
        .await
        .unwrap_err();
    let TaskError::UnsafeDeletion { summary, .. } = &error else {
        panic!("{error:?}");
    };
    assert!(
        summary.contains("the stack is UPDATE_ROLLBACK_FAILED"),
        "{summary}"
    );
}

/// After a person's yes the workflow confirms with the fingerprint they approved: the deletion goes
/// ahead only if the stack is still what they saw.
#[tokio::test]
async fn an_approval_holds_only_for_the_stack_as_it_was_judged() {
    let (describe, list, get) = (managed_stack(), app_resources(), template(NO_POLICIES));
    let deps = deps(&[&describe, &list, &get]);
    let judged = plan_delete::handle(&deps, event(request("approve")))
        .await
        .unwrap();
    let fingerprint = judged["fingerprint"].as_str().unwrap().to_string();
    let confirm = |approved: &str| json!({"request": judged["deletion"].clone(), "approved": approved, "executionArn": HOLDER});
    // The same stack: confirmed, although the judgement is unsafe (a person said yes to that).
    let confirmed = plan_delete::handle(&deps, event(confirm(&fingerprint)))
        .await
        .unwrap();
    assert_eq!(confirmed["fingerprint"], fingerprint.as_str());
    assert_eq!(confirmed["judgement"]["verdict"], "UNSAFE");

    // The table's retain policy was dropped, or the stack changed otherwise, while people decided.
    let (describe, list) = (managed_stack(), app_resources());
    let retained = template(
        "Resources:\n  Orders:\n    Type: AWS::DynamoDB::Table\n    DeletionPolicy: Retain\n",
    );
    let other = plan_delete::handle(
        &super::plan_delete::deps(&[&describe, &list, &retained]),
        event(request("approve")),
    )
    .await
    .unwrap();
    assert_ne!(other["fingerprint"], fingerprint.as_str());
    let error = plan_delete::handle(
        &super::plan_delete::deps(&[&describe, &list, &retained]),
        event(confirm(&fingerprint)),
    )
    .await
    .unwrap_err();
    assert_eq!(error.error_type(), "StackChangedSinceApproval");
}
