//! The project's own rules over template.yaml (CI runs them beside cfn-lint): no wildcard IAM
//! actions, `Resource: "*"` only for actions that cannot be scoped, encryption on every bucket, topic,
//! queue and table, and no API route open without an API key or an authorizer unless it is one of
//! the signed-link routes, whose handler checks an HMAC signature instead. One list of rules over
//! one template, kept together so that a reviewer reads every rule in one file.

use serde_yaml::Value;

mod task_tokens;

/// Actions AWS documents without resource-level permissions: `Resource: "*"` is the only form.
pub const UNSCOPABLE_ACTIONS: &[&str] = &[
    // Called with a template (body or URL), not a stack: no resource to name.
    "cloudformation:GetTemplateSummary",
    // Called with a drift detection id.
    "cloudformation:DescribeStackDriftDetectionStatus",
    "codepipeline:PutJobSuccessResult",
    "codepipeline:PutJobFailureResult",
    "ec2:DescribeInstances",
    "elasticloadbalancing:DescribeTargetHealth",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    "organizations:CreateAccount",
    "organizations:DescribeCreateAccountStatus",
    "ssm:DescribeInstancePatches",
    "ssm:ListCommands",
    "ssm:ListCommandInvocations",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
];

/// Routes served without an API key: people open approval links from an email and external jobs
/// post results to a signed callback URL; approval-api verifies the link's signature and expiry.
pub const SIGNED_LINK_ROUTES: &[(&str, &str)] = &[
    ("/approvals/{id}", "get"),
    ("/approvals/{id}", "post"),
    ("/tasks/{id}/result", "post"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub resource: String,
    pub rule: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.resource, self.rule, self.detail)
    }
}

/// A string, or the strings of a list; CloudFormation functions (tagged values) are not literals.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping()?.get(key)
}

/// Policy statements of a resource: SAM `Policies` (inline statements; policy templates and
/// managed policy names are left to cfn-lint) and IAM roles' and policies' documents.
fn statements(resource: &Value) -> Vec<&Value> {
    let properties = get(resource, "Properties");
    let mut documents: Vec<&Value> = Vec::new();
    if let Some(Value::Sequence(policies)) = properties.and_then(|p| get(p, "Policies")) {
        for policy in policies {
            documents.push(policy);
            if let Some(document) = get(policy, "PolicyDocument") {
                documents.push(document);
            }
        }
    }
    if let Some(document) = properties.and_then(|p| get(p, "PolicyDocument")) {
        documents.push(document);
    }
    let mut found = Vec::new();
    for document in documents {
        match get(document, "Statement") {
            Some(Value::Sequence(list)) => found.extend(list.iter().flat_map(unwrap_condition)),
            Some(single @ Value::Mapping(_)) => found.push(single),
            _ => {}
        }
    }
    found
}

/// `!If [condition, a, b]` statements count as both branches.
fn unwrap_condition(statement: &Value) -> Vec<&Value> {
    match statement {
        Value::Tagged(tagged) if tagged.tag == "If" => match &tagged.value {
            Value::Sequence(parts) if parts.len() == 3 => vec![&parts[1], &parts[2]]
                .into_iter()
                .filter(|v| v.is_mapping())
                .collect(),
            _ => Vec::new(),
        },
        other => vec![other],
    }
}

fn check_statement(name: &str, statement: &Value, violations: &mut Vec<Violation>) {
    if get(statement, "Effect").and_then(Value::as_str) == Some("Deny") {
        return;
    }
    let actions = get(statement, "Action").map(strings).unwrap_or_default();
    for action in &actions {
        if action.contains('*') {
            violations.push(Violation {
                resource: name.to_string(),
                rule: "no wildcard IAM actions",
                detail: action.clone(),
            });
        }
    }
    let any_resource = get(statement, "Resource")
        .map(strings)
        .unwrap_or_default()
        .iter()
        .any(|r| r == "*");
    if any_resource {
        let scopable: Vec<&String> = actions
            .iter()
            .filter(|a| !UNSCOPABLE_ACTIONS.contains(&a.as_str()))
            .collect();
        if !scopable.is_empty() {
            violations.push(Violation {
                resource: name.to_string(),
                rule: "Resource \"*\" only for actions without resource-level permissions",
                detail: scopable
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
}

fn is_true(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Bool(true)))
}

fn check_encryption(
    name: &str,
    kind: &str,
    properties: Option<&Value>,
    violations: &mut Vec<Violation>,
) {
    let property = |key: &str| properties.and_then(|p| get(p, key));
    let encrypted = match kind {
        "AWS::S3::Bucket" => property("BucketEncryption").is_some(),
        "AWS::SNS::Topic" => property("KmsMasterKeyId").is_some(),
        "AWS::SQS::Queue" => {
            property("KmsMasterKeyId").is_some() || is_true(property("SqsManagedSseEnabled"))
        }
        "AWS::DynamoDB::Table" => {
            is_true(property("SSESpecification").and_then(|s| get(s, "SSEEnabled")))
        }
        _ => return,
    };
    if !encrypted {
        violations.push(Violation {
            resource: name.to_string(),
            rule: "encryption at rest on buckets, topics, queues and tables",
            detail: kind.to_string(),
        });
    }
}

/// Whether a route's own `Auth` (or else the API's default) requires a key or an authorizer.
fn route_is_protected(auth: Option<&Value>, api_requires_key: bool) -> bool {
    let Some(auth) = auth else {
        return api_requires_key;
    };
    let key = match get(auth, "ApiKeyRequired") {
        Some(Value::Bool(required)) => *required,
        _ => api_requires_key,
    };
    let authorizer = get(auth, "Authorizer")
        .and_then(Value::as_str)
        .is_some_and(|a| a != "NONE");
    key || authorizer
}

fn check_routes(
    name: &str,
    resource: &Value,
    apis: &[(String, bool)],
    violations: &mut Vec<Violation>,
) {
    let Some(Value::Mapping(events)) = get(resource, "Properties").and_then(|p| get(p, "Events"))
    else {
        return;
    };
    for (event_name, event) in events {
        if get(event, "Type").and_then(Value::as_str) != Some("Api") {
            continue;
        }
        let properties = get(event, "Properties");
        let path = properties
            .and_then(|p| get(p, "Path"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let method = properties
            .and_then(|p| get(p, "Method"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_lowercase();
        // The API the route belongs to (a `!Ref`), and whether that API requires a key by default.
        let api_requires_key = properties
            .and_then(|p| get(p, "RestApiId"))
            .and_then(|r| match r {
                Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
                _ => None,
            })
            .and_then(|api| apis.iter().find(|(n, _)| n == api))
            .is_some_and(|(_, requires)| *requires);
        if route_is_protected(properties.and_then(|p| get(p, "Auth")), api_requires_key) {
            continue;
        }
        if !SIGNED_LINK_ROUTES.contains(&(path, method.as_str())) {
            violations.push(Violation {
                resource: name.to_string(),
                rule: "every API route needs an API key or an authorizer (signed-link routes excepted)",
                detail: format!("{} {method} {path}", event_name.as_str().unwrap_or_default()),
            });
        }
    }
}

/// Every violation of the rules in `template`.
pub fn check(template: &Value) -> Vec<Violation> {
    let mut violations = Vec::new();
    let Some(Value::Mapping(resources)) = get(template, "Resources") else {
        return vec![Violation {
            resource: "-".into(),
            rule: "a template has Resources",
            detail: "none found".into(),
        }];
    };
    let apis: Vec<(String, bool)> = resources
        .iter()
        .filter(|(_, r)| get(r, "Type").and_then(Value::as_str) == Some("AWS::Serverless::Api"))
        .map(|(n, r)| {
            let requires = is_true(
                get(r, "Properties")
                    .and_then(|p| get(p, "Auth"))
                    .and_then(|a| get(a, "ApiKeyRequired")),
            );
            (n.as_str().unwrap_or_default().to_string(), requires)
        })
        .collect();
    for (name, resource) in resources {
        let name = name.as_str().unwrap_or_default();
        let kind = get(resource, "Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for statement in statements(resource) {
            check_statement(name, statement, &mut violations);
        }
        check_encryption(name, kind, get(resource, "Properties"), &mut violations);
        if kind == "AWS::Serverless::Function" {
            check_routes(name, resource, &apis, &mut violations);
            let url_auth = get(resource, "Properties")
                .and_then(|p| get(p, "FunctionUrlConfig"))
                .and_then(|c| get(c, "AuthType"))
                .and_then(Value::as_str);
            if url_auth == Some("NONE") {
                violations.push(Violation {
                    resource: name.to_string(),
                    rule: "no public function URLs",
                    detail: "FunctionUrlConfig.AuthType NONE".into(),
                });
            }
        }
        check_scheduled_starts(name, kind, resource, &mut violations);
        if kind == "AWS::Serverless::Api" {
            let key = is_true(
                get(resource, "Properties")
                    .and_then(|p| get(p, "Auth"))
                    .and_then(|a| get(a, "ApiKeyRequired")),
            );
            // An API of signed-link routes only (the approvals API) is the one exception.
            if !key && !serves_only_signed_links(resources, name) {
                violations.push(Violation {
                    resource: name.to_string(),
                    rule: "APIs require an API key by default",
                    detail: "Auth.ApiKeyRequired is not true".into(),
                });
            }
        }
    }
    task_tokens::check(resources, &mut violations);
    check_environments(template, &mut violations);
    violations
}

/// Whether every route on API `api` is a signed-link route (and there is at least one).
fn serves_only_signed_links(resources: &serde_yaml::Mapping, api: &str) -> bool {
    let routes: Vec<(String, String)> = resources
        .values()
        .filter_map(|r| get(r, "Properties").and_then(|p| get(p, "Events")))
        .filter_map(Value::as_mapping)
        .flat_map(|events| events.values())
        .filter(|event| get(event, "Type").and_then(Value::as_str) == Some("Api"))
        .filter_map(|event| get(event, "Properties"))
        .filter(|p| {
            matches!(get(p, "RestApiId"), Some(Value::Tagged(t)) if t.tag == "Ref" && t.value.as_str() == Some(api))
        })
        .map(|p| {
            let text = |key: &str| get(p, key).and_then(Value::as_str).unwrap_or_default().to_string();
            (text("Path"), text("Method").to_lowercase())
        })
        .collect();
    !routes.is_empty()
        && routes
            .iter()
            .all(|(path, method)| SIGNED_LINK_ROUTES.contains(&(path.as_str(), method.as_str())))
}

/// The managed environments the template deploys with by default must not overlap (`prod` and
/// `prod-eu` would both own `prod-eu-app`); the functions apply the same rule to the deployed value.
fn check_environments(template: &Value, violations: &mut Vec<Violation>) {
    let default = get(template, "Parameters")
        .and_then(|p| get(p, "ManagedEnvironments"))
        .and_then(|p| get(p, "Default"))
        .and_then(Value::as_str);
    let Some(default) = default else {
        return;
    };
    if let Err(error) = managed_environments(default) {
        violations.push(Violation {
            resource: "ManagedEnvironments".into(),
            rule: "managed environments do not overlap",
            detail: error.to_string(),
        });
    }
}

/// Checks a `ManagedEnvironments` value as the functions will when they start.
pub fn managed_environments(value: &str) -> Result<(), stackgate::TaskError> {
    stackgate::guardrails::Guardrails::new(
        stackgate::guardrails::split_list(value),
        vec![],
        None,
        vec![],
        vec![],
    )
    .map(|_| ())
}

/// EventBridge delivers at least once. A state machine started straight from a rule or schedule
/// gets a new, unnamed execution per delivery, so a repeated delivery runs the workflow twice.
/// Schedules start workflows through the universal `sfn:startExecution` target instead, with the
/// execution named after the scheduler's invocation id (a repeat is then ExecutionAlreadyExists).
fn check_scheduled_starts(
    name: &str,
    kind: &str,
    resource: &Value,
    violations: &mut Vec<Violation>,
) {
    const RULE: &str = "EventBridge starts workflows under a name (no duplicate executions)";
    let properties = get(resource, "Properties");
    if kind == "AWS::Serverless::StateMachine" {
        if let Some(Value::Mapping(events)) = properties.and_then(|p| get(p, "Events")) {
            for (event, definition) in events {
                let kind = get(definition, "Type")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if matches!(
                    kind,
                    "Schedule" | "ScheduleV2" | "EventBridgeRule" | "CloudWatchEvent"
                ) {
                    violations.push(Violation {
                        resource: name.to_string(),
                        rule: RULE,
                        detail: format!(
                            "event {} ({kind}) starts an unnamed execution per delivery",
                            event.as_str().unwrap_or_default()
                        ),
                    });
                }
            }
        }
    }
    if kind == "AWS::Scheduler::Schedule" {
        const UNIVERSAL_START: &str = "arn:aws:scheduler:::aws-sdk:sfn:startExecution";
        let target = properties.and_then(|p| get(p, "Target"));
        let arn = target.and_then(|t| get(t, "Arn"));
        let input =
            serde_yaml::to_string(&target.and_then(|t| get(t, "Input"))).unwrap_or_default();
        let universal = arn.and_then(Value::as_str) == Some(UNIVERSAL_START);
        let named = input.contains("Name") && input.contains("<aws.scheduler.execution-id>");
        let direct = !universal
            && serde_yaml::to_string(&arn)
                .unwrap_or_default()
                .contains("StateMachine");
        if direct || (universal && !named) {
            violations.push(Violation {
                resource: name.to_string(),
                rule: RULE,
                detail: if direct {
                    "the schedule targets a state machine directly".into()
                } else {
                    "sfn:startExecution without a Name from <aws.scheduler.execution-id>".into()
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations(yaml: &str) -> Vec<Violation> {
        check(&serde_yaml::from_str(yaml).unwrap())
    }

    fn project_template() -> String {
        std::fs::read_to_string(crate::repo_root().join("template.yaml")).unwrap()
    }

    /// An object under the staging bucket's `inline/` is deployed as a template a caller gave the
    /// API: the stacks API's role is the only one granted to write there, and the bucket denies
    /// everyone else (the local stack applies no bucket policy, so this is checked here).
    #[test]
    fn inline_templates_are_writable_only_by_the_stacks_api() {
        let template: Value = serde_yaml::from_str(&project_template()).unwrap();
        let resources = template["Resources"].as_mapping().unwrap();
        let policy =
            serde_yaml::to_string(&resources[&Value::from("StagingBucketPolicy")]).unwrap();
        for part in [
            "Sid: InlineTemplatesOnlyFromTheApi",
            "Effect: Deny",
            "Principal: '*'",
            "Action: s3:PutObject",
            "${StagingBucket.Arn}/inline/*",
            "ArnNotEquals",
            "aws:PrincipalArn: !GetAtt StacksApiFunctionRole.Arn",
        ] {
            assert!(policy.contains(part), "{part}: {policy}");
        }
        // Every statement anywhere in a resource (under !If too) that allows PutObject on inline/.
        fn allows_inline_writes(value: &Value) -> bool {
            match value {
                Value::Mapping(map) => {
                    let text = |key: &str| {
                        map.get(Value::from(key))
                            .map(|v| serde_yaml::to_string(v).unwrap())
                            .unwrap_or_default()
                    };
                    let statement = text("Effect").contains("Allow")
                        && text("Action").contains("s3:PutObject")
                        && text("Resource").contains("/inline/");
                    statement || map.values().any(allows_inline_writes)
                }
                Value::Sequence(items) => items.iter().any(allows_inline_writes),
                Value::Tagged(tagged) => allows_inline_writes(&tagged.value),
                _ => false,
            }
        }
        let writers: Vec<String> = resources
            .iter()
            .filter(|(_, resource)| allows_inline_writes(resource))
            .map(|(name, _)| name.as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(writers, ["StacksApiFunction"]);
    }

    #[test]
    fn the_projects_template_passes() {
        let found = violations(&project_template());
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn workflows_started_by_eventbridge_are_started_under_a_name() {
        let found = violations(
            r#"
Resources:
  Report:
    Type: AWS::Serverless::StateMachine
    Properties:
      Events:
        Nightly: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 day)}}
  Direct:
    Type: AWS::Scheduler::Schedule
    Properties:
      Target: {Arn: !Ref ReportStateMachine, RoleArn: r}
  Unnamed:
    Type: AWS::Scheduler::Schedule
    Properties:
      Target: {Arn: "arn:aws:scheduler:::aws-sdk:sfn:startExecution", RoleArn: r, Input: '{"StateMachineArn": "m"}'}
  Named:
    Type: AWS::Scheduler::Schedule
    Properties:
      Target:
        Arn: "arn:aws:scheduler:::aws-sdk:sfn:startExecution"
        RoleArn: r
        Input: !Sub '{"StateMachineArn": "${Report}", "Name": "report-<aws.scheduler.execution-id>"}'
  Poller:
    Type: AWS::Scheduler::Schedule
    Properties:
      Target: {Arn: !GetAtt PollerFunction.Arn, RoleArn: r}
"#,
        );
        let flagged: Vec<&str> = found.iter().map(|v| v.resource.as_str()).collect();
        assert_eq!(flagged, ["Report", "Direct", "Unnamed"], "{found:#?}");
        // The project's template starts its scheduled workflow that way (and passes every rule:
        // the_projects_template_passes).
        assert!(project_template().contains("patch-report-<aws.scheduler.execution-id>"));
        crate::reliability::record(
            "guarantees",
            "schedule-named-executions",
            &serde_json::json!({
                "guarantee": "duplicate deliveries start no duplicate execution: EventBridge Scheduler (the patch report is started under the scheduler's invocation id; a template rule refuses unnamed starts)",
                "test": "stackgate-local template_policy::workflows_started_by_eventbridge_are_started_under_a_name",
            }),
        );
    }

    #[test]
    fn overlapping_managed_environments_are_refused() {
        let template = |default: &str| {
            format!("Parameters:\n  ManagedEnvironments:\n    Type: String\n    Default: {default}\nResources: {{}}\n")
        };
        let rules = |default: &str| -> Vec<&'static str> {
            violations(&template(default))
                .iter()
                .map(|v| v.rule)
                .collect()
        };
        assert!(rules("dev,test,prod").is_empty());
        assert_eq!(
            rules("prod,prod-eu"),
            ["managed environments do not overlap"]
        );
        assert_eq!(
            rules("prod-eu,dev,prod"),
            ["managed environments do not overlap"]
        );
    }

    #[test]
    fn wildcard_actions_are_refused() {
        let found = violations(
            r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: ["cloudformation:*", "states:*", "*", "s3:Get*"]
              Resource: !Sub arn:aws:s3:::b/*
"#,
        );
        let actions: Vec<&str> = found.iter().map(|v| v.detail.as_str()).collect();
        assert_eq!(actions, ["cloudformation:*", "states:*", "*", "s3:Get*"]);
    }

    #[test]
    fn resource_star_is_refused_for_scopable_actions_even_inside_a_condition() {
        let found = violations(
            r#"
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [ec2:DescribeInstances, ec2:RebootInstances]
                Resource: "*"
              - !If
                - Cond
                - Effect: Allow
                  Action: s3:GetObject
                  Resource: "*"
                - !Ref AWS::NoValue
              - Effect: Deny
                Action: s3:DeleteObject
                Resource: "*"
"#,
        );
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[0].detail, "ec2:RebootInstances");
        assert_eq!(found[1].detail, "s3:GetObject");
    }

    #[test]
    fn unencrypted_storage_is_refused() {
        let found = violations(
            r#"
Resources:
  Bucket: {Type: AWS::S3::Bucket}
  Topic: {Type: AWS::SNS::Topic, Properties: {TopicName: t}}
  Queue: {Type: AWS::SQS::Queue, Properties: {SqsManagedSseEnabled: false}}
  Table: {Type: AWS::DynamoDB::Table, Properties: {SSESpecification: {SSEEnabled: false}}}
  GoodQueue: {Type: AWS::SQS::Queue, Properties: {SqsManagedSseEnabled: true}}
"#,
        );
        let resources: Vec<&str> = found.iter().map(|v| v.resource.as_str()).collect();
        assert_eq!(resources, ["Bucket", "Topic", "Queue", "Table"]);
    }

    #[test]
    fn open_routes_are_refused_unless_they_are_signed_links() {
        let found = violations(
            r#"
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties: {Auth: {ApiKeyRequired: true}}
  OpenApi:
    Type: AWS::Serverless::Api
    Properties: {StageName: v1}
  LinksApi:
    Type: AWS::Serverless::Api
    Properties: {StageName: v1}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionUrlConfig: {AuthType: NONE}
      Events:
        Keyed: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /stacks, Method: post}}
        Open: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /stacks, Method: get, Auth: {ApiKeyRequired: false}}}
        Signed: {Type: Api, Properties: {RestApiId: !Ref Api, Path: "/approvals/{id}", Method: get, Auth: {ApiKeyRequired: false, Authorizer: NONE}}}
        Default: {Type: Api, Properties: {RestApiId: !Ref OpenApi, Path: /x, Method: get}}
        Authorized: {Type: Api, Properties: {RestApiId: !Ref OpenApi, Path: /y, Method: get, Auth: {Authorizer: AWS_IAM}}}
        OnlyLinks: {Type: Api, Properties: {RestApiId: !Ref LinksApi, Path: "/tasks/{id}/result", Method: post}}
"#,
        );
        let details: Vec<String> = found
            .iter()
            .map(|v| format!("{}: {}", v.resource, v.detail))
            .collect();
        assert_eq!(
            details,
            [
                "OpenApi: Auth.ApiKeyRequired is not true",
                "Fn: Open get /stacks",
                "Fn: Default get /x",
                "Fn: FunctionUrlConfig.AuthType NONE",
            ]
        );
    }
}
