//! create-change-set's tests: inspect-change-set.

use super::*;

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
                                .after_context(nested_template_at("templates"))
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
    // The nested change set's template as submitted, read for its includes.
    let submitted = template_without_policies();
    let clients = deps(&[&first_page, &second_page, &nested, &submitted], &[]);
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
