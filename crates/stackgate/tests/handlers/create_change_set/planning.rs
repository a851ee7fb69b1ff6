//! create-change-set's tests: the plan: what create-change-set does with what it judged.

use super::*;

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
    deps.leases = crate::stack_lease::held("prod-app-green");
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
