//! create-change-set's tests: DescribeStacks: what "missing" means.

use super::*;

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
