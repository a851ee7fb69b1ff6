//! create-change-set's tests: Guard rules over the change set's template.

use super::*;

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
    let get = revision_rule("Resources: {}".into());
    let exists = stack_is(Some(StackStatus::UpdateComplete));
    let create = mock!(CloudFormation::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let (root, child) = root_and_nested(
        NESTED,
        vec![
            nested_stack_change("Child", Some(NESTED), "artifacts"),
            // No change set of its own listed: its template cannot be read.
            nested_stack_change("Other", None, "artifacts"),
        ],
    );
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
    // Read twice: as submitted, for its includes, and as processed, for the rules.
    assert_eq!(child_template.num_calls(), 2);
    assert_eq!(delete.num_calls(), 1);
}

/// Guarantee 1 for a template's parts: a nested stack whose template is in a bucket the operator
/// did not allow is refused and its change set deleted, naming the nested stack, not the URL.
#[tokio::test]
async fn a_nested_stack_from_a_bucket_not_allowed_is_refused() {
    let nested = |bucket: &str| {
        Change::builder()
            .r#type(ChangeType::Resource)
            .resource_change(
                ResourceChange::builder()
                    .action(ChangeAction::Add)
                    .logical_resource_id("Network")
                    .resource_type("AWS::CloudFormation::Stack")
                    .after_context(nested_template_at(bucket))
                    .build(),
            )
            .build()
    };
    let error = plan_update(vec![nested("elsewhere")], r#"{"Resources": {}}"#)
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "InvalidTemplate", "{error}");
    let text = error.to_string();
    assert!(
        text.contains("nested stack Network reads its template"),
        "{text}"
    );
    assert!(!text.contains("elsewhere"), "{text}");
    // From an allowed bucket its origin refuses nothing; it is judged like any other change.
    let allowed = plan_update(vec![nested("templates")], r#"{"Resources": {}}"#).await;
    assert!(allowed.is_ok(), "{allowed:?}");
}

/// An include written inside a nested stack's template is held to the allowed buckets too: the
/// nested change set's template is read as submitted.
#[tokio::test]
async fn an_include_inside_a_nested_template_from_a_bucket_not_allowed_is_refused() {
    const NESTED: &str = "arn:aws:cloudformation:eu-west-1:123456789012:changeSet/nested-1/abc";
    let get = revision_rule("Resources: {}".into());
    let exists = stack_is(Some(StackStatus::UpdateComplete));
    let create = mock!(CloudFormation::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let (root, child) = root_and_nested(
        NESTED,
        vec![nested_stack_change("Network", Some(NESTED), "templates")],
    );
    let submitted = mock!(CloudFormation::get_template)
        .match_requests(|r| {
            r.change_set_name() == Some(NESTED)
                && r.stack_name().is_none()
                && r.template_stage()
                    == Some(&aws_sdk_cloudformation::types::TemplateStage::Original)
        })
        .then_output(|| {
            aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
                .template_body(r#"{"Resources": {"Site": {"Type": "AWS::S3::Bucket", "Properties": {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://elsewhere/p.yaml"}}}}}}"#)
                .build()
        });
    let delete = deleted();
    let error = create_change_set::handle(
        &deps(
            &[&exists, &create, &child, &root, &submitted, &delete],
            &[&get],
        ),
        event(plan_input("fail")),
    )
    .await
    .unwrap_err();
    assert_eq!(error.error_type(), "InvalidTemplate", "{error}");
    assert!(error.to_string().contains("AWS::Include"), "{error}");
    assert!(!error.to_string().contains("elsewhere"), "{error}");
    assert_eq!(submitted.num_calls(), 1);
    assert_eq!(delete.num_calls(), 1);
}

/// An `AWS::Include` from a bucket the operator did not allow: a template stackgate reads is refused
/// before any change set; one CloudFormation reads by its URL is read back as submitted, refused, and
/// its change set deleted.
#[tokio::test]
async fn an_include_from_a_bucket_not_allowed_is_refused() {
    const INCLUDES: &str = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      Fn::Transform:\n        Name: AWS::Include\n        Parameters:\n          Location: s3://elsewhere/props.yaml\n";
    let get = revision_rule(INCLUDES.into());
    let missing = stack_is(None);
    let create = mock!(CloudFormation::create_change_set)
        .then_output(|| CreateChangeSetOutput::builder().build());
    let error =
        create_change_set::handle(&deps(&[&missing, &create], &[&get]), event(create_input()))
            .await
            .unwrap_err();
    assert_eq!(error.error_type(), "InvalidTemplate", "{error}");
    assert!(error.to_string().contains("AWS::Include"), "{error}");
    assert!(!error.to_string().contains("elsewhere"), "{error}");
    assert_eq!(create.num_calls(), 0);

    let by_url = json!({
        "request": {"environmentName": "prod", "stackName": "app",
            "templateUrl": "https://templates.s3.amazonaws.com/t.yaml", "onUnsafe": "fail"},
        "executionName": "exec-1", "executionArn": crate::stack_lease::HOLDER, "target": "primary"
    });
    let describe = mock!(CloudFormation::describe_change_set).then_output(|| {
        let mut ready = change_set_status(ChangeSetStatus::CreateComplete, None);
        ready.changes = Some(vec![resource_change(ChangeAction::Add, "Site", None)]);
        ready
    });
    let submitted = mock!(CloudFormation::get_template)
        .match_requests(|r| {
            r.change_set_name().is_some()
                && r.template_stage()
                    == Some(&aws_sdk_cloudformation::types::TemplateStage::Original)
        })
        .then_output(|| {
            aws_sdk_cloudformation::operation::get_template::GetTemplateOutput::builder()
                .template_body(INCLUDES)
                .build()
        });
    let delete = deleted();
    let error = create_change_set::handle(
        &deps(&[&missing, &create, &describe, &submitted, &delete], &[]),
        event(by_url),
    )
    .await
    .unwrap_err();
    assert_eq!(error.error_type(), "InvalidTemplate", "{error}");
    assert!(error.to_string().contains("AWS::Include"), "{error}");
    assert_eq!(create.num_calls(), 1);
    assert_eq!(submitted.num_calls(), 1);
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
    deps.reach = crate::stack_operation::reach_elsewhere(
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
