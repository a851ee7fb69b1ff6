//! create-change-set's tests: Policy v2: data loss and access, not churn.

use super::*;

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
