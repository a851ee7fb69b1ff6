//! The policy's tests: deleting a whole stack.

use super::*;

#[test]
fn deleting_a_stack_loses_the_data_its_stores_do_not_retain() {
    let app = [
        ("Fn", "AWS::Lambda::Function"),
        ("FnRole", "AWS::IAM::Role"),
        ("FnVersion1a2b", "AWS::Lambda::Version"),
        ("Orders", "AWS::DynamoDB::Table"),
    ];
    // Without a policy on the table its data goes with the stack.
    let (verdict, judged) = judge_deletion_with(&app, &[]);
    assert_eq!(verdict, Verdict::Unsafe);
    let unsafe_ones: Vec<&str> = judged
        .iter()
        .filter(|c| !c.safe)
        .map(|c| c.logical_resource_id.as_str())
        .collect();
    assert_eq!(unsafe_ones, ["Orders"], "{judged:#?}");
    assert_eq!(
        judged[3].reason,
        "removes AWS::DynamoDB::Table Orders; DeletionPolicy Delete: data lost"
    );
    // Access only shrinks when nothing is kept: the role is no reason.
    assert!(judged[1].safe && !judged[1].security_sensitive);

    // A stateless stack goes without a person; so does an empty one.
    assert_eq!(judge_deletion_with(&app[..3], &[]).0, Verdict::Safe);
    assert_eq!(judge_deletion_with(&[], &[]).0, Verdict::Empty);
    // An unknown type holds data until the operator says otherwise.
    assert_eq!(
        judge_deletion_with(&[("Thing", "Custom::Thing")], &[]).0,
        Verdict::Unsafe
    );
}

#[test]
fn deleting_a_stack_that_keeps_a_store_must_not_remove_what_guarded_it() {
    let stack = [
        ("Data", "AWS::S3::Bucket"),
        ("DataPolicy", "AWS::S3::BucketPolicy"),
        ("Fn", "AWS::Lambda::Function"),
        ("FnRole", "AWS::IAM::Role"),
    ];
    // The bucket outlives the stack; its policy (which may deny) would not.
    let (verdict, judged) = judge_deletion_with(&stack, &["Data"]);
    // Nor would a policy protecting a bucket outside the stack.
    assert_eq!(
        judge_deletion_with(&stack[1..], &[]).0,
        Verdict::Unsafe,
        "a bucket policy alone"
    );
    assert_eq!(verdict, Verdict::Unsafe);
    assert!(judged[0].safe, "{}", judged[0].reason);
    assert!(judged[1].security_sensitive && !judged[1].safe);
    assert!(
        judged[1]
            .reason
            .contains("whose denials may protect data in this stack or outside it"),
        "{}",
        judged[1].reason
    );
    // Grants only take access away.
    assert!(judged[2].safe && judged[3].safe, "{judged:#?}");
    // Retaining the policy too makes it safe.
    assert_eq!(
        judge_deletion_with(&stack, &["Data", "DataPolicy"]).0,
        Verdict::Safe
    );
}

#[test]
fn deleting_a_nested_stack_is_judged_unsafe_unless_it_is_retained() {
    let nested = [("Network", "AWS::CloudFormation::Stack")];
    let (verdict, judged) = judge_deletion_with(&nested, &[]);
    assert_eq!(verdict, Verdict::Unsafe);
    assert!(judged[0].reason.contains("not judged resource by resource"));
    assert_eq!(judge_deletion_with(&nested, &["Network"]).0, Verdict::Safe);
}
