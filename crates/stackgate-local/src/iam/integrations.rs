//! What a Task state needs its state machine's role to allow, as AWS documents it per integration
//! ("IAM policies for integrated services" in the Step Functions developer guide). A resource this
//! table does not know is an error: a new integration gets its row before it can pass the check.

use serde_json::Value;

use super::grants::Need;
use super::intrinsics::REGION;
use crate::template::ACCOUNT;

/// The needs of one Task state (`resource` and `parameters` after the definition substitutions).
pub fn needs(resource: &str, parameters: Option<&Value>) -> Result<Vec<Need>, String> {
    let parameter = |name: &str| -> Option<String> {
        parameters
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    // A value the definition names, or `None` when the state's input names it (`Name.$`).
    let named = |name: &str, action: &str| -> Result<Need, String> {
        match parameter(name) {
            Some(value) => Ok(Need::on(action, value)),
            None if parameters.is_some_and(|p| p.get(format!("{name}.$")).is_some()) => {
                Ok(Need::any(action))
            }
            None => Err(format!("{resource} without {name}")),
        }
    };
    if let Some(call) = resource.strip_prefix("arn:aws:states:::aws-sdk:") {
        let call = call.strip_suffix(".waitForTaskToken").unwrap_or(call);
        let (service, api) = call
            .split_once(':')
            .ok_or_else(|| format!("{resource} names no API"))?;
        let prefix = iam_prefix(service).ok_or_else(|| {
            format!("{resource}: the IAM prefix of {service} is not known here: add it to iam/integrations.rs")
        })?;
        let action = sdk_action(prefix, &capitalised(api));
        let mut needs = vec![Need::any(&action)];
        needs.extend(
            ALSO_NEEDED
                .iter()
                .filter(|(a, _)| *a == action)
                .flat_map(|(_, also)| also.iter().map(|a| Need::any(a))),
        );
        return Ok(needs);
    }
    match resource {
        "arn:aws:states:::lambda:invoke" | "arn:aws:states:::lambda:invoke.waitForTaskToken" => {
            Ok(vec![named("FunctionName", "lambda:InvokeFunction")?])
        }
        "arn:aws:states:::sns:publish" | "arn:aws:states:::sns:publish.waitForTaskToken" => {
            Ok(vec![named("TopicArn", "sns:Publish")?])
        }
        "arn:aws:states:::dynamodb:putItem"
        | "arn:aws:states:::dynamodb:updateItem"
        | "arn:aws:states:::dynamodb:deleteItem" => {
            let action = match resource.rsplit(':').next() {
                Some("putItem") => "dynamodb:PutItem",
                Some("deleteItem") => "dynamodb:DeleteItem",
                _ => "dynamodb:UpdateItem",
            };
            let need = named("TableName", action)?;
            Ok(vec![Need {
                resource: need.resource.map(|table| table_arn(&table)),
                ..need
            }])
        }
        "arn:aws:states:::states:startExecution" => {
            Ok(vec![named("StateMachineArn", "states:StartExecution")?])
        }
        // Waiting for a child execution: Step Functions describes it, stops it when the parent is
        // stopped, and learns of its end through a managed EventBridge rule.
        "arn:aws:states:::states:startExecution.sync"
        | "arn:aws:states:::states:startExecution.sync:2" => {
            let start = named("StateMachineArn", "states:StartExecution")?;
            let executions = |action: &str| match &start.resource {
                Some(arn) => Need::on(action, format!("{}:*", execution_prefix(arn))),
                None => Need::any(action),
            };
            let rule = format!(
                "arn:aws:events:{REGION}:{ACCOUNT}:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule"
            );
            Ok(vec![
                executions("states:DescribeExecution"),
                executions("states:StopExecution"),
                Need::on("events:PutTargets", rule.clone()),
                Need::on("events:PutRule", rule.clone()),
                Need::on("events:DescribeRule", rule),
                start,
            ])
        }
        // An activity is polled by its worker, under the worker's own role.
        activity if activity.starts_with("arn:aws:states:") && activity.contains(":activity:") => {
            Ok(Vec::new())
        }
        function if function.starts_with("arn:aws:lambda:") => {
            Ok(vec![Need::on("lambda:InvokeFunction", function)])
        }
        other => Err(format!(
            "{other} is an integration the IAM check does not know: add its needs to iam/integrations.rs"
        )),
    }
}

/// The prefix of a service's IAM actions, for the services this check knows (an unknown one is an
/// error, not a guess).
fn iam_prefix(service: &str) -> Option<&'static str> {
    Some(match service {
        "cloudformation" => "cloudformation",
        "cloudwatch" => "cloudwatch",
        "codepipeline" => "codepipeline",
        "dynamodb" => "dynamodb",
        "ec2" => "ec2",
        "iam" => "iam",
        "kms" => "kms",
        "lambda" => "lambda",
        "organizations" => "organizations",
        "s3" => "s3",
        "secretsmanager" => "secretsmanager",
        "sns" => "sns",
        "sqs" => "sqs",
        "ssm" => "ssm",
        "sts" => "sts",
        "elasticloadbalancingv2" => "elasticloadbalancing",
        "sfn" => "states",
        "eventbridge" => "events",
        "sesv2" => "ses",
        "cloudwatchlogs" => "logs",
        "efs" => "elasticfilesystem",
        _ => return None,
    })
}

/// The IAM action of an SDK call, where it is not the API's own name.
fn sdk_action(prefix: &str, api: &str) -> String {
    let action = match (prefix, api) {
        ("s3", "ListObjectsV2" | "ListObjects" | "HeadBucket") => "ListBucket",
        ("s3", "HeadObject") => "GetObject",
        ("lambda", "Invoke") => "InvokeFunction",
        _ => api,
    };
    format!("{prefix}:{action}")
}

/// Actions AWS checks besides the call's own (the template's comments say where from).
const ALSO_NEEDED: &[(&str, &[&str])] = &[
    // Executing a change set applies its tags to the stack.
    (
        "cloudformation:ExecuteChangeSet",
        &["cloudformation:TagResource", "cloudformation:UntagResource"],
    ),
];

/// What a state machine with `LoggingConfiguration` needs to deliver its logs (Step Functions
/// developer guide, "IAM policies for logging to CloudWatch Logs"); none supports resource-level
/// permissions.
pub const LOG_DELIVERY: &[&str] = &[
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
];

fn capitalised(api: &str) -> String {
    let mut chars = api.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

fn table_arn(table: &str) -> String {
    if table.starts_with("arn:") {
        table.to_owned()
    } else {
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}")
    }
}

/// `arn:…:stateMachine:Name` → `arn:…:execution:Name`.
fn execution_prefix(state_machine: &str) -> String {
    state_machine.replacen(":stateMachine:", ":execution:", 1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sdk_calls_need_their_iam_action_on_a_run_time_resource() {
        assert_eq!(
            needs(
                "arn:aws:states:::aws-sdk:elasticloadbalancingv2:describeTargetHealth",
                None
            ),
            Ok(vec![Need::any("elasticloadbalancing:DescribeTargetHealth")])
        );
        assert_eq!(
            needs(
                "arn:aws:states:::aws-sdk:cloudformation:executeChangeSet",
                Some(&json!({"StackName.$": "$.x"}))
            ),
            Ok(vec![
                Need::any("cloudformation:ExecuteChangeSet"),
                Need::any("cloudformation:TagResource"),
                Need::any("cloudformation:UntagResource")
            ])
        );
    }

    #[test]
    fn optimised_integrations_need_their_named_resource() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:Fn";
        assert_eq!(
            needs(
                "arn:aws:states:::lambda:invoke.waitForTaskToken",
                Some(&json!({"FunctionName": arn}))
            ),
            Ok(vec![Need::on("lambda:InvokeFunction", arn)])
        );
        assert_eq!(
            needs(
                "arn:aws:states:::dynamodb:putItem",
                Some(&json!({"TableName": "Audit"}))
            ),
            Ok(vec![Need::on(
                "dynamodb:PutItem",
                "arn:aws:dynamodb:us-east-1:123456789012:table/Audit"
            )])
        );
        assert_eq!(
            needs(
                "arn:aws:states:::dynamodb:updateItem",
                Some(&json!({"TableName": "Leases"}))
            ),
            Ok(vec![Need::on(
                "dynamodb:UpdateItem",
                "arn:aws:dynamodb:us-east-1:123456789012:table/Leases"
            )])
        );
        assert_eq!(
            needs(
                "arn:aws:states:::dynamodb:deleteItem",
                Some(&json!({"TableName": "Leases"}))
            ),
            Ok(vec![Need::on(
                "dynamodb:DeleteItem",
                "arn:aws:dynamodb:us-east-1:123456789012:table/Leases"
            )])
        );
        assert!(needs(
            "arn:aws:states:::sns:publish",
            Some(&json!({"Message": "x"}))
        )
        .is_err());
    }

    #[test]
    fn waiting_for_a_child_execution_needs_the_managed_rule_too() {
        let child = "arn:aws:states:us-east-1:123456789012:stateMachine:Deploy";
        let needs = needs(
            "arn:aws:states:::states:startExecution.sync:2",
            Some(&json!({"StateMachineArn": child})),
        )
        .unwrap();
        let actions: Vec<&str> = needs.iter().map(|n| n.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "states:DescribeExecution",
                "states:StopExecution",
                "events:PutTargets",
                "events:PutRule",
                "events:DescribeRule",
                "states:StartExecution"
            ]
        );
        assert_eq!(
            needs[0].resource.as_deref(),
            Some("arn:aws:states:us-east-1:123456789012:execution:Deploy:*")
        );
    }

    #[test]
    fn an_unknown_integration_is_an_error() {
        let error = needs("arn:aws:states:::glue:startJobRun.sync", None).unwrap_err();
        assert!(error.contains("does not know"), "{error}");
        let error = needs("arn:aws:states:::aws-sdk:acmpca:issueCertificate", None).unwrap_err();
        assert!(error.contains("not known"), "{error}");
    }

    #[test]
    fn sdk_calls_whose_iam_action_differs_or_needs_more() {
        let action = |r: &str| needs(r, None).unwrap()[0].action.clone();
        assert_eq!(
            action("arn:aws:states:::aws-sdk:s3:listObjectsV2"),
            "s3:ListBucket"
        );
        assert_eq!(
            action("arn:aws:states:::aws-sdk:sesv2:sendEmail"),
            "ses:SendEmail"
        );
        assert_eq!(
            action("arn:aws:states:::aws-sdk:eventbridge:putEvents"),
            "events:PutEvents"
        );
        let execute = needs(
            "arn:aws:states:::aws-sdk:cloudformation:executeChangeSet",
            None,
        )
        .unwrap();
        let actions: Vec<&str> = execute.iter().map(|n| n.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "cloudformation:ExecuteChangeSet",
                "cloudformation:TagResource",
                "cloudformation:UntagResource"
            ]
        );
    }
}
