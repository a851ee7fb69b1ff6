//! Every workflow that waits for a person can be answered. A state machine that hands the approval
//! emailer a task token waits until the approvals API answers it, so that API's role must be
//! allowed to answer the state machine's tasks and to read its executions' history (where a lost
//! reply is confirmed). A missing grant is an approval nobody can give, found only when someone
//! clicks the link on AWS.

use serde_yaml::{Mapping, Value};

use super::{get, statements, strings, Violation};

/// The function every approval task invokes with a token, and the one that answers.
const EMAILER: &str = "ApprovalEmailerFunction";
const ANSWERER: &str = "ApprovalApiFunction";
const RULE: &str = "the approvals API can answer every workflow that waits for people";

/// Whether a state machine's definition is given the emailer (it then waits for its tokens).
fn waits_for_people(resource: &Value) -> bool {
    let Some(Value::Mapping(substitutions)) =
        get(resource, "Properties").and_then(|p| get(p, "DefinitionSubstitutions"))
    else {
        return false;
    };
    substitutions.values().any(|value| {
        matches!(value, Value::Tagged(t) if t.tag == "GetAtt"
            && t.value.as_str() == Some(&format!("{EMAILER}.Arn")))
    })
}

/// Whether an Allow statement grants `action` on a resource `names` accepts.
fn grants(statement: &Value, action: &str, names: impl Fn(&Value) -> bool) -> bool {
    let allows = get(statement, "Effect").and_then(Value::as_str) == Some("Allow");
    let actions = get(statement, "Action").map(strings).unwrap_or_default();
    let resources: Vec<&Value> = match get(statement, "Resource") {
        Some(Value::Sequence(list)) => list.iter().collect(),
        Some(single) => vec![single],
        None => Vec::new(),
    };
    allows && actions.iter().any(|a| a == action) && resources.into_iter().any(names)
}

pub(super) fn check(resources: &Mapping, violations: &mut Vec<Violation>) {
    let Some(answerer) = resources.get(ANSWERER) else {
        return;
    };
    let granted = statements(answerer);
    for (name, resource) in resources {
        let Some(machine) = name.as_str() else {
            continue;
        };
        if get(resource, "Type").and_then(Value::as_str) != Some("AWS::Serverless::StateMachine")
            || !waits_for_people(resource)
        {
            continue;
        }
        let is_machine = |r: &Value| matches!(r, Value::Tagged(t) if t.tag == "Ref" && t.value.as_str() == Some(machine));
        let is_its_executions = |r: &Value| {
            matches!(r, Value::Tagged(t) if t.tag == "Sub" && t.value.as_str().is_some_and(|s| {
                s.contains(&format!(":execution:${{{machine}.Name}}:"))
            }))
        };
        for action in ["states:SendTaskSuccess", "states:SendTaskFailure"] {
            if !granted.iter().any(|s| grants(s, action, is_machine)) {
                violations.push(Violation {
                    resource: ANSWERER.to_string(),
                    rule: RULE,
                    detail: format!("{action} is not allowed on {machine}"),
                });
            }
        }
        let action = "states:GetExecutionHistory";
        if !granted.iter().any(|s| grants(s, action, is_its_executions)) {
            violations.push(Violation {
                resource: ANSWERER.to_string(),
                rule: RULE,
                detail: format!("{action} is not allowed on the executions of {machine}"),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(template: &str) -> Vec<String> {
        let template: Value = serde_yaml::from_str(template).unwrap();
        let mut violations = Vec::new();
        check(
            get(&template, "Resources").unwrap().as_mapping().unwrap(),
            &mut violations,
        );
        violations.into_iter().map(|v| v.detail).collect()
    }

    fn project_template() -> String {
        std::fs::read_to_string(crate::repo_root().join("template.yaml")).unwrap()
    }

    /// The grant safe-delete lacked until this rule found it: its approval would have waited for
    /// an answer AWS refuses to take (AccessDenied on SendTaskSuccess), and nothing local shows it.
    #[test]
    fn a_workflow_whose_approvals_cannot_be_answered_is_refused() {
        let template = project_template();
        assert_eq!(found(&template), Vec::<String>::new());
        let without = template.replacen("                - !Ref SafeDeleteStateMachine\n                - !Ref AccountVendingStateMachine\n                - !Ref ManualTaskActivity", "                - !Ref AccountVendingStateMachine\n                - !Ref ManualTaskActivity", 1);
        assert_ne!(
            without, template,
            "the grant to remove is where the test expects it"
        );
        assert_eq!(
            found(&without),
            [
                "states:SendTaskSuccess is not allowed on SafeDeleteStateMachine",
                "states:SendTaskFailure is not allowed on SafeDeleteStateMachine",
            ]
        );
        let history_grant = "                - !Sub arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${SafeDeleteStateMachine.Name}:*\n                - !Sub arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${AccountVendingStateMachine.Name}:*\n            - Effect: Allow\n              Action: ssm:GetParameter";
        let without_history = template.replacen(
            history_grant,
            &history_grant.replacen("                - !Sub arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${SafeDeleteStateMachine.Name}:*\n", "", 1),
            1,
        );
        assert_ne!(without_history, template);
        assert_eq!(
            found(&without_history),
            ["states:GetExecutionHistory is not allowed on the executions of SafeDeleteStateMachine"]
        );
        crate::reliability::record(
            "guarantees",
            "approvals-answerable",
            &serde_json::json!({
                "guarantee": "every workflow that waits for a person can be answered on AWS: a template rule finds a state machine whose tasks the approvals API may not answer, or whose history it may not read",
                "test": "stackgate-local template_policy::task_tokens::a_workflow_whose_approvals_cannot_be_answered_is_refused",
            }),
        );
    }
}
