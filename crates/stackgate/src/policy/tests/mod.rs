use super::*;

mod access;
mod data_loss;
mod deletion;

#[test]
fn only_unsafe_change_sets_are_refused_and_only_when_asked_or_on_the_blue_green_stack() {
    use crate::request::OnUnsafe::*;
    use Disposition::{Keep, Refuse};
    for on_unsafe in [Fail, Approve, BlueGreen] {
        for blue_green in [false, true] {
            for security in [false, true] {
                assert_eq!(
                    disposition(Verdict::Safe, on_unsafe, blue_green, security),
                    Keep
                );
                assert_eq!(
                    disposition(Verdict::Empty, on_unsafe, blue_green, security),
                    Keep
                );
            }
        }
    }
    for (on_unsafe, blue_green, expected) in [
        (Fail, false, Refuse),
        (Approve, false, Keep),
        (BlueGreen, false, Keep),
        (BlueGreen, true, Refuse),
        (Approve, true, Refuse),
    ] {
        assert_eq!(
            disposition(Verdict::Unsafe, on_unsafe, blue_green, false),
            expected,
            "{on_unsafe:?}, blue/green target {blue_green}"
        );
    }
}

fn change(action: &str, replacement: Option<&str>) -> ResourceChange {
    ResourceChange {
        action: action.into(),
        logical_resource_id: "Res".into(),
        resource_type: "AWS::S3::Bucket".into(),
        replacement: replacement.map(str::to_string),
        nested_path: vec![],
        changed_properties: vec![],
        ..ResourceChange::default()
    }
}

fn with_type(mut change: ResourceChange, resource_type: &str, id: &str) -> ResourceChange {
    change.resource_type = resource_type.into();
    change.logical_resource_id = id.into();
    change
}

fn judge(changes: &[ResourceChange]) -> (Verdict, Vec<JudgedChange>) {
    judge_with(changes, &BTreeMap::new())
}

fn judge_with(
    changes: &[ResourceChange],
    policies: &BTreeMap<String, Policies>,
) -> (Verdict, Vec<JudgedChange>) {
    let rules = Rules {
        sensitive: &SensitiveTypes::default(),
        stateful: &StatefulTypes::default(),
        policies,
        next_policies: policies,
        stack: "dev-app",
        allow_data_loss: &[],
    };
    super::judge(changes, &rules)
}

#[test]
fn every_action_and_replacement_combination() {
    let replacements = [
        None,
        Some("True"),
        Some("False"),
        Some("Conditional"),
        Some("Maybe"),
    ];
    for action in [
        "Add",
        "Modify",
        "Remove",
        "Import",
        "Dynamic",
        "SyncWithActual",
        "Delete",
        "Teleport",
    ] {
        for replacement in replacements {
            let rules = Rules {
                sensitive: &SensitiveTypes::default(),
                stateful: &StatefulTypes::default(),
                policies: &BTreeMap::new(),
                next_policies: &BTreeMap::new(),
                stack: "dev-app",
                allow_data_loss: &[],
            };
            let safe = judge_change(&change(action, replacement), &rules).is_ok();
            let expected = matches!(
                (action, replacement),
                ("Add" | "Import" | "SyncWithActual", _) | ("Modify", None | Some("False"))
            );
            assert_eq!(safe, expected, "{action} / {replacement:?}");
        }
    }
}

#[test]
fn a_nested_stack_whose_changes_are_not_listed_is_unsafe() {
    let mut nested = with_type(
        change("Modify", Some("False")),
        "AWS::CloudFormation::Stack",
        "Data",
    );
    nested.nested_changes_unlisted = true;
    let (verdict, judged) = judge(&[nested]);
    assert_eq!(verdict, Verdict::Unsafe);
    assert!(
        judged[0].reason.contains("not listed"),
        "{}",
        judged[0].reason
    );
}

#[test]
fn a_replacement_names_the_properties_that_force_it_and_a_removal_names_none() {
    let mut table = with_type(
        change("Modify", Some("Conditional")),
        "AWS::DynamoDB::Table",
        "myDynamoDBTable",
    );
    table.replacing_properties = vec!["KeySchema".into()];
    let (_, judged) = judge(&[table.clone()]);
    assert_eq!(
        judged[0].reason,
        "may replace AWS::DynamoDB::Table myDynamoDBTable (changing KeySchema), depending on values known only at execution: data may be lost"
    );
    table.action = "Remove".into();
    let (_, judged) = judge(&[table]);
    assert!(
        !judged[0].reason.contains("changing"),
        "{}",
        judged[0].reason
    );
}

#[test]
fn verdicts() {
    assert_eq!(judge(&[]).0, Verdict::Empty);
    assert_eq!(
        judge(&[change("Add", None), change("Modify", Some("False"))]).0,
        Verdict::Safe
    );
    assert_eq!(
        judge(&[change("Modify", Some("Conditional"))]).0,
        Verdict::Unsafe
    );
    assert_eq!(judge(&[change("Dynamic", None)]).0, Verdict::Unsafe);
}

#[test]
fn nested_changes_are_named_by_path_and_judged() {
    let mut nested = change("Modify", Some("True"));
    nested.nested_path = vec!["Network".into()];
    nested.logical_resource_id = "Vpc".into();
    let (verdict, judged) = judge(&[change("Modify", Some("False")), nested]);
    assert_eq!(verdict, Verdict::Unsafe);
    assert_eq!(judged[1].logical_resource_id, "Network/Vpc");
}

#[test]
fn diff_lines_mark_replacements_and_put_unsafe_first() {
    let (_, judged) = judge(&[
        change("Add", None),
        change("Modify", Some("True")),
        change("Remove", None),
    ]);
    let diff = render_diff(&judged);
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(
        lines[0],
        "~ Res (AWS::S3::Bucket) [REPLACE]: replaces AWS::S3::Bucket Res; UpdateReplacePolicy Delete: data lost"
    );
    assert_eq!(
        lines[1],
        "- Res (AWS::S3::Bucket): removes AWS::S3::Bucket Res; DeletionPolicy Delete: data lost"
    );
    assert_eq!(lines[2], "+ Res (AWS::S3::Bucket)");
}

fn judge_deletion_with(
    resources: &[(&str, &str)],
    retained: &[&str],
) -> (Verdict, Vec<JudgedChange>) {
    let resources: Vec<ResourceChange> = resources
        .iter()
        .map(|(id, resource_type)| with_type(change("Remove", None), resource_type, id))
        .collect();
    let policies: BTreeMap<String, Policies> = retained
        .iter()
        .map(|id| {
            (
                id.to_string(),
                Policies {
                    deletion: Some("Retain".into()),
                    update_replace: None,
                    ..Policies::default()
                },
            )
        })
        .collect();
    let rules = Rules {
        sensitive: &SensitiveTypes::default(),
        stateful: &StatefulTypes::default(),
        policies: &policies,
        next_policies: &BTreeMap::new(),
        stack: "dev-app",
        allow_data_loss: &[],
    };
    super::judge_deletion(&resources, &rules)
}

/// The largest judgement a change set can give (every listed change with a long id and a long
/// reason, the first ones with their most and longest values) stays well under Step Functions'
/// 256 KB state limit, with room for the rest of the plan.
#[test]
fn the_largest_judgement_fits_in_the_workflows_state() {
    use crate::values::{shown, DescribedValue, MAX_VALUES_PER_CHANGE};
    let long = "v".repeat(4000);
    let values: Vec<ShownValue> = (0..MAX_VALUES_PER_CHANGE * 3)
        .map(|i| {
            let path = format!("/Properties/{}{i}", "P".repeat(60));
            let described = DescribedValue {
                path: &path,
                resource_type: "AWS::ElasticLoadBalancingV2::ListenerRule",
                before: Some(&long),
                after: Some(&long),
                caused_by_secret: false,
            };
            shown(&described)
        })
        .take(MAX_VALUES_PER_CHANGE)
        .collect();
    let judged: Vec<JudgedChange> = (0..1000)
        .map(|i| JudgedChange {
            action: "Modify".into(),
            logical_resource_id: format!("{}{i:04}", "L".repeat(60)),
            resource_type: "AWS::ElasticLoadBalancingV2::ListenerRule".into(),
            replacement: Some("Conditional".into()),
            safe: false,
            security_sensitive: true,
            reason: "security-sensitive: changes SecurityGroupIngress, which decides access; may replace AWS::ElasticLoadBalancingV2::ListenerRule (changing Conditions, Actions)".into(),
            values: values.clone(),
        })
        .collect();
    let judgement = Judgement::new(Verdict::Unsafe, judged);
    let size = serde_json::to_string(&judgement).unwrap().len();
    assert!(size < 192 * 1024, "{size} bytes");
    assert_eq!(judgement.changes.len(), MAX_LISTED_CHANGES);
    assert!(judgement.changes[MAX_CHANGES_WITH_VALUES].values.is_empty());
}
