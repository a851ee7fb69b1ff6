//! The policy's tests: changes to access (security-sensitive types and properties).

use super::*;

#[test]
fn an_accepted_data_loss_is_still_an_access_change_when_it_is_one() {
    let stateful = StatefulTypes::new(vec![], vec![]).with_operator_floor(
        vec![],
        crate::stateful::DataLossIntent {
            template: true,
            request: true,
        },
    );
    let key = ResourceChange {
        action: "Remove".into(),
        logical_resource_id: "Key".into(),
        resource_type: "AWS::KMS::Key".into(),
        ..ResourceChange::default()
    };
    let rules = Rules {
        sensitive: &SensitiveTypes::default(),
        stateful: &stateful,
        policies: &BTreeMap::new(),
        next_policies: &BTreeMap::new(),
        stack: "dev-app",
        allow_data_loss: &["Key".to_string()],
    };
    let (verdict, judged) = crate::policy::judge(&[key], &rules);
    assert_eq!(verdict, Verdict::Unsafe);
    assert!(
        judged[0].reason.starts_with("security-sensitive"),
        "{}",
        judged[0].reason
    );
    assert!(judged[0].reason.contains("accepted by the request"));
}

#[test]
fn security_sensitive_changes_are_unsafe_whatever_the_action_and_never_blue_green() {
    use crate::request::OnUnsafe::*;
    for action in ["Add", "Modify", "Remove", "Import"] {
        let mut user = change(action, Some("False"));
        user.resource_type = "AWS::IAM::AccessKey".into();
        let (verdict, judged) = judge(&[change("Add", None), user]);
        assert_eq!(verdict, Verdict::Unsafe, "{action}");
        assert!(judged[1].security_sensitive);
        assert!(
            judged[1].reason.starts_with("security-sensitive"),
            "{}",
            judged[1].reason
        );
    }
    let mut policy = change("Modify", Some("False"));
    policy.resource_type = "AWS::ECR::Repository".into();
    policy.changed_properties = vec!["RepositoryPolicyText".into()];
    let (verdict, judged) = judge(&[policy]);
    assert_eq!(verdict, Verdict::Unsafe);
    assert!(judged[0].reason.contains("RepositoryPolicyText"));
    assert!(render_diff(&judged).contains("[SECURITY]: security-sensitive"));
    assert_eq!(
        disposition(Verdict::Unsafe, BlueGreen, false, true),
        Disposition::Refuse
    );
    assert_eq!(
        disposition(Verdict::Unsafe, Approve, false, true),
        Disposition::Keep
    );
    assert_eq!(
        disposition(Verdict::Unsafe, BlueGreen, false, false),
        Disposition::Keep
    );
}

#[test]
fn security_sensitive_changes_stay_unsafe_even_when_they_hold_no_data() {
    let mut permission = with_type(change("Remove", None), "AWS::Lambda::Permission", "Invoke");
    permission.policy_action = Some("Delete".into());
    let (verdict, judged) = judge(&[permission]);
    assert_eq!(verdict, Verdict::Unsafe);
    assert!(
        judged[0].reason.starts_with("security-sensitive"),
        "{}",
        judged[0].reason
    );
}
