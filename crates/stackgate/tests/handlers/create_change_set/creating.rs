//! create-change-set's tests: create-change-set.

use super::*;

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
            Some("Template format error: unresolved resource; S3 error for https://elsewhere.s3.amazonaws.com/n.yaml?X-Amz-Security-Token=planted"),
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
    // A quoted URL may be presigned: it is not passed on.
    assert!(!err.to_string().contains("planted"), "{err}");
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
            "executionName": "exec-1", "executionArn": crate::stack_lease::HOLDER, "target": "primary"
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
