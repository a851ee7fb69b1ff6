//! IAM of the state machines, checked from the template itself (as `aws-sam-translator` expands
//! it, SAM policy templates included): every Task of every definition needs the IAM actions AWS
//! documents for its integration, and the state machine's role must grant them. moto's interpreter
//! acts with no role at all, so without this a missing grant would first show on AWS, in the
//! middle of a deployment.

pub mod grants;
pub mod integrations;
pub mod intrinsics;
pub mod roles;

use serde_json::Value;

use grants::{allows, role_statements, Need};
use intrinsics::Resolver;

/// What the check found over a whole template.
#[derive(Debug, Default)]
pub struct Report {
    pub state_machines: usize,
    pub tasks: usize,
    /// Each a sentence naming the state machine, the state and the missing grant or the problem.
    pub problems: Vec<String>,
}

/// Checks every state machine of a plain CloudFormation template.
pub fn check_state_machines(template: &Value) -> Report {
    let resolver = Resolver::new(template);
    let mut report = Report::default();
    let resources = template
        .get("Resources")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (id, resource) in &resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::StepFunctions::StateMachine")
        {
            continue;
        }
        report.state_machines += 1;
        if let Err(problem) = check_one(id, resource, &resources, &resolver, &mut report) {
            report.problems.push(format!("{id}: {problem}"));
        }
    }
    report
}

fn check_one(
    id: &str,
    resource: &Value,
    resources: &serde_json::Map<String, Value>,
    resolver: &Resolver,
    report: &mut Report,
) -> Result<(), String> {
    let properties = resource.get("Properties").ok_or("no Properties")?;
    let role_id = match properties.get("RoleArn") {
        Some(Value::Object(get_att)) => get_att
            .get("Fn::GetAtt")
            .and_then(|a| a.get(0))
            .and_then(Value::as_str),
        _ => None,
    }
    .ok_or("its RoleArn is not the Arn of a role of this template")?;
    let role = resources
        .get(role_id)
        .ok_or_else(|| format!("its role {role_id} is not in the template"))?;
    let statements = role_statements(role, resolver).map_err(|e| format!("{role_id}: {e}"))?;
    if properties.get("LoggingConfiguration").is_some() {
        for action in integrations::LOG_DELIVERY {
            let need = Need::any(action);
            if !allows(&statements, &need) {
                report.problems.push(format!(
                    "{id}: its LoggingConfiguration needs {need}, which {role_id} does not grant"
                ));
            }
        }
    }
    let definition = definition(properties, resolver)?;
    let mut tasks = Vec::new();
    collect_tasks(&definition, &mut tasks);
    for (state, task) in tasks {
        report.tasks += 1;
        let resource = task.get("Resource").and_then(Value::as_str).unwrap_or("");
        let needs = integrations::needs(resource, task.get("Parameters"))
            .map_err(|e| format!("state {state}: {e}"))?;
        for need in needs.iter().filter(|need| !allows(&statements, need)) {
            report.problems.push(missing(id, &state, role_id, need));
        }
    }
    Ok(())
}

fn missing(state_machine: &str, state: &str, role: &str, need: &Need) -> String {
    format!("{state_machine}: state {state} needs {need}, which {role} does not grant")
}

/// The definition with its `DefinitionSubstitutions` made, as Step Functions makes them.
fn definition(properties: &Value, resolver: &Resolver) -> Result<Value, String> {
    let mut text = match (
        properties.get("DefinitionString"),
        properties.get("Definition"),
    ) {
        (Some(string), _) => resolver.resolve(string)?.into_strings().concat(),
        (None, Some(object)) => object.to_string(),
        (None, None) => return Err("no definition".into()),
    };
    if let Some(substitutions) = properties
        .get("DefinitionSubstitutions")
        .and_then(Value::as_object)
    {
        for (key, value) in substitutions {
            let value = resolver.resolve(value)?.into_strings().join(",");
            text = text.replace(&format!("${{{key}}}"), &value);
        }
    }
    serde_json::from_str(&text).map_err(|e| format!("its definition is not JSON: {e}"))
}

/// Every Task state, with its name, nested branches and Map iterations included.
fn collect_tasks<'v>(definition: &'v Value, tasks: &mut Vec<(String, &'v Value)>) {
    let Some(states) = definition.get("States").and_then(Value::as_object) else {
        return;
    };
    for (name, state) in states {
        match state.get("Type").and_then(Value::as_str) {
            Some("Task") => tasks.push((name.clone(), state)),
            Some("Parallel") => {
                for branch in state
                    .get("Branches")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    collect_tasks(branch, tasks);
                }
            }
            Some("Map") => {
                for key in ["ItemProcessor", "Iterator"] {
                    if let Some(inner) = state.get(key) {
                        collect_tasks(inner, tasks);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A translated template's shape (what aws-sam-translator writes for a SAM state machine with
    /// `LambdaInvokePolicy` and an inline statement), with one Lambda task and one SDK call.
    fn template(actions: &[&str]) -> Value {
        let definition = json!({
            "StartAt": "Plan",
            "States": {
                "Plan": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                         "Parameters": {"FunctionName": "${PlanArn}", "Payload.$": "$"}, "Next": "Both"},
                "Both": {"Type": "Parallel", "End": true, "Branches": [{
                    "StartAt": "Execute",
                    "States": {"Execute": {"Type": "Task",
                        "Resource": "arn:aws:states:::aws-sdk:cloudformation:executeChangeSet",
                        "Parameters": {"StackName.$": "$.stack", "ChangeSetName.$": "$.name"}, "End": true}}
                }]}
            }
        });
        let lines: Vec<Value> = serde_json::to_string_pretty(&definition)
            .unwrap()
            .lines()
            .map(|l| Value::String(l.into()))
            .collect();
        json!({
            "Resources": {
                "Plan": {"Type": "AWS::Lambda::Function"},
                "Deploy": {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
                    "DefinitionString": {"Fn::Join": ["\n", lines]},
                    "DefinitionSubstitutions": {"PlanArn": {"Fn::GetAtt": ["Plan", "Arn"]}},
                    "RoleArn": {"Fn::GetAtt": ["DeployRole", "Arn"]}
                }},
                "DeployRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
                    {"PolicyName": "DeployRolePolicy0", "PolicyDocument": {"Statement": [{
                        "Action": ["lambda:InvokeFunction"], "Effect": "Allow",
                        "Resource": {"Fn::Sub": [
                            "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${functionName}*",
                            {"functionName": {"Ref": "Plan"}}
                        ]}
                    }]}},
                    {"PolicyName": "DeployRolePolicy2", "PolicyDocument": {"Statement": [{
                        "Effect": "Allow", "Resource": "*",
                        "Action": ["cloudformation:TagResource", "cloudformation:UntagResource"]
                    }]}},
                    {"PolicyName": "DeployRolePolicy1", "PolicyDocument": {"Statement": [{
                        "Effect": "Allow", "Action": actions,
                        "Resource": "arn:aws:cloudformation:*:*:stack/dev-*/*",
                        "Condition": {"StringEquals": {"aws:ResourceTag/stackgate:managed": "true"}}
                    }]}}
                ]}}
            }
        })
    }

    #[test]
    fn every_task_granted_passes() {
        let report = check_state_machines(&template(&["cloudformation:ExecuteChangeSet"]));
        assert_eq!((report.state_machines, report.tasks), (1, 2));
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn a_missing_grant_is_named_with_its_state_and_role() {
        let report = check_state_machines(&template(&["cloudformation:DeleteChangeSet"]));
        assert_eq!(
            report.problems,
            ["Deploy: state Execute needs cloudformation:ExecuteChangeSet (on a resource named at \
              run time), which DeployRole does not grant"]
        );
    }

    #[test]
    fn logging_needs_the_log_delivery_grants() {
        let mut template = template(&["cloudformation:ExecuteChangeSet"]);
        template["Resources"]["Deploy"]["Properties"]["LoggingConfiguration"] =
            json!({"Level": "ERROR"});
        let report = check_state_machines(&template);
        assert_eq!(report.problems.len(), integrations::LOG_DELIVERY.len());
        assert!(report.problems[0].starts_with("Deploy: its LoggingConfiguration needs logs:"));
        let policies = template["Resources"]["DeployRole"]["Properties"]["Policies"]
            .as_array_mut()
            .unwrap();
        policies.push(json!({
            "PolicyName": "logs", "PolicyDocument": {"Statement": [{
                "Effect": "Allow", "Resource": "*", "Action": integrations::LOG_DELIVERY
            }]}
        }));
        let report = check_state_machines(&template);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn a_grant_on_another_function_does_not_count() {
        let mut template = template(&["cloudformation:ExecuteChangeSet"]);
        template["Resources"]["Other"] = json!({"Type": "AWS::Lambda::Function"});
        template["Resources"]["DeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]
            ["Statement"][0]["Resource"]["Fn::Sub"][1]["functionName"] = json!({"Ref": "Other"});
        let report = check_state_machines(&template);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].contains("state Plan needs lambda:InvokeFunction on arn:aws:lambda:us-east-1:123456789012:function:Plan"));
    }

    #[test]
    fn an_unreadable_role_or_unknown_integration_fails_the_check() {
        let mut unknown = template(&["cloudformation:ExecuteChangeSet"]);
        let text = unknown["Resources"]["Deploy"]["Properties"]["DefinitionString"]
            .to_string()
            .replace(
                "aws-sdk:cloudformation:executeChangeSet",
                "glue:startJobRun.sync",
            );
        unknown["Resources"]["Deploy"]["Properties"]["DefinitionString"] =
            serde_json::from_str(&text).unwrap();
        let report = check_state_machines(&unknown);
        assert!(
            report.problems[0].contains("does not know"),
            "{:?}",
            report.problems
        );

        let mut foreign = template(&["cloudformation:ExecuteChangeSet"]);
        foreign["Resources"]["Deploy"]["Properties"]["RoleArn"] =
            json!({"Ref": "SomeRoleParameter"});
        let report = check_state_machines(&foreign);
        assert!(
            report.problems[0].contains("RoleArn"),
            "{:?}",
            report.problems
        );
    }
}
