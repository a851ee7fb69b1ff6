//! create-change-set's tests: check-stack.

use super::*;

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
