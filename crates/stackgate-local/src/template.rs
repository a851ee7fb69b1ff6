//! Reads `template.yaml` so that the local stack is wired exactly as SAM wires AWS: the state machines'
//! `DefinitionSubstitutions` and the functions' environment are resolved to local names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

pub const ACCOUNT: &str = "123456789012";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("{0}")]
    Unsupported(String),
}

/// A resource of the template that exists locally too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalResource {
    Topic {
        logical_id: String,
    },
    Bucket {
        logical_id: String,
        name: String,
    },
    /// A Step Functions activity, named by its logical id.
    Activity {
        name: String,
    },
    /// A DynamoDB table with a string hash key.
    Table {
        name: String,
        hash_key: String,
    },
    /// A function's EventBridge rule (`Events: … Type: EventBridgeRule`) on the default bus, named
    /// as SAM names it (function logical id + event name).
    Rule {
        name: String,
        /// The event pattern, as JSON.
        pattern: String,
        function_arn: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateMachine {
    pub name: String,
    pub definition_path: PathBuf,
    pub substitutions: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct LocalTemplate {
    root: Value,
    dir: PathBuf,
    region: String,
    parameters: BTreeMap<String, String>,
}

/// Local name of a bucket declared in the template.
pub fn bucket_name(logical_id: &str) -> String {
    format!("stackgate-local-{}", logical_id.to_ascii_lowercase())
}

impl LocalTemplate {
    pub fn load(
        path: &Path,
        region: &str,
        parameters: BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| TemplateError::Read(path.into(), e))?;
        Self::parse(
            &text,
            path.parent().unwrap_or(Path::new(".")),
            region,
            parameters,
        )
    }

    pub fn parse(
        text: &str,
        dir: &Path,
        region: &str,
        parameters: BTreeMap<String, String>,
    ) -> Result<Self, TemplateError> {
        Ok(LocalTemplate {
            root: serde_yaml::from_str(text)?,
            dir: dir.to_path_buf(),
            region: region.to_string(),
            parameters,
        })
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    fn resource_type(&self, logical_id: &str) -> Option<&str> {
        self.resources()
            .find(|(id, _)| *id == logical_id)
            .and_then(|(_, r)| r.get("Type")?.as_str())
    }

    /// The binary (and so the local function name) of a SAM function.
    pub fn function_binary(&self, logical_id: &str) -> Option<String> {
        let (_, resource) = self.resources().find(|(id, _)| *id == logical_id)?;
        resource
            .get("Metadata")?
            .get("BuildProperties")?
            .get("Binary")?
            .as_str()
            .map(str::to_string)
    }

    pub fn function_arn(&self, binary: &str) -> String {
        format!("arn:aws:lambda:{}:{ACCOUNT}:function:{binary}", self.region)
    }

    /// Resolves a scalar, `!Ref` or `!GetAtt` to its local value.
    pub fn resolve(&self, value: &Value) -> Result<String, TemplateError> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Tagged(tagged) => {
                let argument = tagged.value.as_str().unwrap_or_default();
                match tagged.tag.to_string().as_str() {
                    "!Ref" => self.resolve_ref(argument),
                    "!GetAtt" => self.resolve_get_att(argument),
                    other => Err(TemplateError::Unsupported(format!(
                        "{other} {argument} has no local value"
                    ))),
                }
            }
            other => Err(TemplateError::Unsupported(format!(
                "cannot resolve {other:?} locally"
            ))),
        }
    }

    fn resolve_ref(&self, name: &str) -> Result<String, TemplateError> {
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        match self.resource_type(name) {
            Some("AWS::SNS::Topic") => Ok(format!("arn:aws:sns:{}:{ACCOUNT}:{name}", self.region)),
            Some("AWS::S3::Bucket") => Ok(bucket_name(name)),
            Some("AWS::DynamoDB::Table") => Ok(bucket_name(name)),
            Some("AWS::StepFunctions::Activity") => Ok(format!(
                "arn:aws:states:{}:{ACCOUNT}:activity:{name}",
                self.region
            )),
            Some("AWS::Serverless::Function") => self.function_binary(name).ok_or_else(|| {
                TemplateError::Unsupported(format!("function {name} has no Binary"))
            }),
            Some("AWS::Serverless::StateMachine") => Ok(format!(
                "arn:aws:states:{}:{ACCOUNT}:stateMachine:{name}",
                self.region
            )),
            _ => Err(TemplateError::Unsupported(format!(
                "!Ref {name} has no local value"
            ))),
        }
    }

    fn resolve_get_att(&self, argument: &str) -> Result<String, TemplateError> {
        let (name, attribute) = argument
            .split_once('.')
            .ok_or_else(|| TemplateError::Unsupported(format!("!GetAtt {argument}")))?;
        match (self.resource_type(name), attribute) {
            (Some("AWS::Serverless::Function"), "Arn") => {
                let binary = self.function_binary(name).ok_or_else(|| {
                    TemplateError::Unsupported(format!(
                        "function {name} has no Metadata.BuildProperties.Binary"
                    ))
                })?;
                Ok(self.function_arn(&binary))
            }
            (Some("AWS::SNS::Topic"), "TopicArn") => self.resolve_ref(name),
            (Some("AWS::SNS::Topic"), "TopicName") => Ok(name.to_string()),
            (Some("AWS::S3::Bucket"), "Arn") => Ok(format!("arn:aws:s3:::{}", bucket_name(name))),
            (Some("AWS::DynamoDB::Table"), "Arn") => Ok(format!(
                "arn:aws:dynamodb:{}:{ACCOUNT}:table/{}",
                self.region,
                bucket_name(name)
            )),
            _ => Err(TemplateError::Unsupported(format!(
                "!GetAtt {argument} has no local value"
            ))),
        }
    }

    /// Topics and buckets the local stack creates.
    pub fn local_resources(&self) -> Vec<LocalResource> {
        self.resources()
            .filter_map(|(id, r)| match r.get("Type")?.as_str()? {
                "AWS::SNS::Topic" => Some(LocalResource::Topic {
                    logical_id: id.into(),
                }),
                "AWS::S3::Bucket" => Some(LocalResource::Bucket {
                    logical_id: id.into(),
                    name: bucket_name(id),
                }),
                "AWS::StepFunctions::Activity" => Some(LocalResource::Activity { name: id.into() }),
                "AWS::DynamoDB::Table" => {
                    let hash_key = r
                        .get("Properties")?
                        .get("KeySchema")?
                        .as_sequence()?
                        .iter()
                        .find(|k| k.get("KeyType").and_then(Value::as_str) == Some("HASH"))?
                        .get("AttributeName")?
                        .as_str()?
                        .to_string();
                    Some(LocalResource::Table {
                        name: bucket_name(id),
                        hash_key,
                    })
                }
                _ => None,
            })
            .chain(self.rules())
            .collect()
    }

    fn rules(&self) -> Vec<LocalResource> {
        let mut rules = Vec::new();
        for (id, resource) in self.resources() {
            let Some(binary) = self.function_binary(id) else {
                continue;
            };
            let events = resource
                .get("Properties")
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping);
            for (event, definition) in events.into_iter().flatten() {
                if definition.get("Type").and_then(Value::as_str) != Some("EventBridgeRule") {
                    continue;
                }
                let Some(pattern) = definition.get("Properties").and_then(|p| p.get("Pattern"))
                else {
                    continue;
                };
                let Ok(pattern) = serde_json::to_string(pattern) else {
                    continue;
                };
                rules.push(LocalResource::Rule {
                    name: format!("{id}{}", event.as_str().unwrap_or_default()),
                    pattern,
                    function_arn: self.function_arn(&binary),
                });
            }
        }
        rules
    }

    pub fn state_machines(&self) -> Result<Vec<StateMachine>, TemplateError> {
        let mut machines = Vec::new();
        for (id, resource) in self.resources() {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::StateMachine")
            {
                continue;
            }
            let properties = resource.get("Properties");
            let uri = properties
                .and_then(|p| p.get("DefinitionUri"))
                .and_then(Value::as_str)
                .ok_or_else(|| TemplateError::Unsupported(format!("{id} has no DefinitionUri")))?;
            let mut substitutions = BTreeMap::new();
            if let Some(map) = properties
                .and_then(|p| p.get("DefinitionSubstitutions"))
                .and_then(Value::as_mapping)
            {
                for (key, value) in map {
                    let key = key.as_str().unwrap_or_default().to_string();
                    substitutions.insert(key, self.resolve(value)?);
                }
            }
            machines.push(StateMachine {
                name: id.to_string(),
                definition_path: self.dir.join(uri),
                substitutions,
            });
        }
        Ok(machines)
    }

    /// The functions' environment (globals merged with each function's own), resolved locally.
    /// `cargo lambda watch` takes one environment for all functions, so a variable must mean the
    /// same thing everywhere it appears.
    /// `overrides` replace (and are not resolved from) the template's values: for variables whose
    /// value has no local equivalent, such as the API Gateway URL of the approval page.
    pub fn function_environment(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, TemplateError> {
        let mut env = overrides.clone();
        let globals = self
            .root
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .into_iter();
        let functions = self
            .resources()
            .filter(|(_, r)| {
                r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function")
            })
            .filter_map(|(_, r)| r.get("Properties"));
        for holder in globals.chain(functions) {
            let Some(variables) = holder
                .get("Environment")
                .and_then(|e| e.get("Variables"))
                .and_then(Value::as_mapping)
            else {
                continue;
            };
            for (key, value) in variables {
                let key = key.as_str().unwrap_or_default().to_string();
                if overrides.contains_key(&key) {
                    continue;
                }
                let value = self.resolve(value)?;
                if let Some(previous) = env.insert(key.clone(), value.clone()) {
                    if previous != value {
                        return Err(TemplateError::Unsupported(format!(
                            "environment variable {key} differs between functions ({previous} / {value})"
                        )));
                    }
                }
            }
        }
        Ok(env)
    }
}

/// Replaces every `${Key}` of an ASL text; a placeholder without a value is an error.
pub fn substitute(
    definition: &str,
    substitutions: &BTreeMap<String, String>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(definition.len());
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| TemplateError::Unsupported("unterminated ${ in definition".into()))?;
        let key = &after[..end];
        let value = substitutions
            .get(key)
            .ok_or_else(|| TemplateError::Unsupported(format!("no substitution for ${{{key}}}")))?;
        out.push_str(value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_template() -> LocalTemplate {
        let path =
            Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../template.yaml");
        LocalTemplate::load(&path, "us-east-1", crate::deploy::local_parameters()).unwrap()
    }

    #[test]
    fn every_substitution_of_the_project_template_resolves() {
        let template = project_template();
        let machines = template.state_machines().unwrap();
        let safe_deploy = machines
            .iter()
            .find(|m| m.name == "SafeDeployStateMachine")
            .unwrap();
        assert_eq!(
            safe_deploy.substitutions["CreateChangeSetFunctionArn"],
            "arn:aws:lambda:us-east-1:123456789012:function:create-change-set"
        );
        assert_eq!(
            safe_deploy.substitutions["NotifyTopicArn"],
            "arn:aws:sns:us-east-1:123456789012:NotifyTopic"
        );
        for machine in &machines {
            let text = std::fs::read_to_string(&machine.definition_path).unwrap();
            let definition = substitute(&text, &machine.substitutions).unwrap();
            assert!(!definition.contains("${"), "{}", machine.name);
            serde_json::from_str::<serde_json::Value>(&definition).unwrap();
        }
    }

    #[test]
    fn function_environment_is_resolved() {
        let overrides =
            BTreeMap::from([("APPROVAL_BASE_URL".to_string(), "http://local".to_string())]);
        let env = project_template().function_environment(&overrides).unwrap();
        assert_eq!(env["APPROVAL_BASE_URL"], "http://local");
        assert_eq!(env["APPROVALS_TABLE"], "stackgate-local-approvalstable");
        assert_eq!(env["STAGING_BUCKET"], "stackgate-local-stagingbucket");
        assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "JSON");
    }

    #[test]
    fn the_stack_status_rule_routes_cloudformations_ends_to_its_function() {
        let rules: Vec<_> = project_template()
            .local_resources()
            .into_iter()
            .filter_map(|r| match r {
                LocalResource::Rule {
                    name,
                    pattern,
                    function_arn,
                } => Some((name, pattern, function_arn)),
                _ => None,
            })
            .collect();
        let (name, pattern, function_arn) = rules
            .iter()
            .find(|(name, _, _)| name == "StackStatusFunctionStackOperationEnded")
            .expect("the stack-status rule");
        assert_eq!(
            function_arn, "arn:aws:lambda:us-east-1:123456789012:function:stack-status",
            "{name}"
        );
        let pattern: serde_json::Value = serde_json::from_str(pattern).unwrap();
        assert_eq!(pattern["source"], serde_json::json!(["aws.cloudformation"]));
        let statuses = pattern["detail"]["status-details"]["status"]
            .as_array()
            .unwrap();
        assert!(statuses.contains(&serde_json::json!("UPDATE_COMPLETE")));
        assert!(statuses
            .iter()
            .all(|s| !s.as_str().unwrap().ends_with("_IN_PROGRESS")));
    }

    /// The alarm and the dashboard read what the functions write (`stackgate::metrics::names`):
    /// a renamed metric or dimension would leave them watching nothing, silently.
    #[test]
    fn the_alarm_and_the_dashboard_read_the_metrics_the_functions_emit() {
        use stackgate::metrics::names;
        let template = project_template();
        let resource = |id: &str| template.root["Resources"][id]["Properties"].clone();
        let tag = |value: &Value| match value {
            Value::Tagged(tagged) => format!("{} {}", tagged.tag, tagged.value.as_str().unwrap()),
            other => panic!("{other:?}"),
        };
        let alarm = resource("FailedDeploymentsAlarm");
        assert_eq!(alarm["MetricName"].as_str(), Some(names::DEPLOYMENTS));
        assert_eq!(tag(&alarm["Namespace"]), "!Ref MetricsNamespace");
        let dimensions: Value = serde_yaml::from_str("[{Name: Outcome, Value: FAILED}]").unwrap();
        assert_eq!(alarm["Dimensions"], dimensions);
        assert_eq!(tag(&alarm["AlarmActions"][0]), "!Ref AlarmTopic");
        // CloudWatch cannot use an AWS managed key: the alarm's topic has a key that lets it.
        assert_eq!(
            tag(&resource("AlarmTopic")["KmsMasterKeyId"]),
            "!Ref AlarmTopicKey"
        );
        let key_policy = serde_json::to_string(&resource("AlarmTopicKey")["KeyPolicy"]).unwrap();
        assert!(
            key_policy.contains("cloudwatch.amazonaws.com"),
            "{key_policy}"
        );

        let Value::Tagged(body) = &resource("OperationsDashboard")["DashboardBody"] else {
            panic!("the dashboard body is a !Sub");
        };
        let substitutions = BTreeMap::from(
            [
                ("MetricsNamespace", "stackgate"),
                ("AWS::Region", "us-east-1"),
                (
                    "FailedDeploymentsAlarm.Arn",
                    "arn:aws:cloudwatch:us-east-1:1:alarm:x",
                ),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let body = substitute(body.value.as_str().unwrap(), &substitutions).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut shown = Vec::new();
        for widget in dashboard["widgets"].as_array().unwrap() {
            for metric in widget["properties"]["metrics"]
                .as_array()
                .into_iter()
                .flatten()
            {
                match metric[0].as_str() {
                    Some(namespace) => {
                        assert_eq!(namespace, "stackgate");
                        shown.push(metric[1].as_str().unwrap().to_string());
                    }
                    None => {
                        let search = metric[0]["expression"].as_str().unwrap();
                        assert!(search.starts_with("SEARCH('{stackgate,"), "{search}");
                        let name = search
                            .split("MetricName=\"")
                            .nth(1)
                            .and_then(|rest| rest.split('"').next())
                            .unwrap();
                        shown.push(name.to_string());
                    }
                }
            }
        }
        for name in &shown {
            assert!(
                names::ALL.contains(&name.as_str()),
                "{name} is never emitted"
            );
        }
        for name in names::ALL {
            assert!(
                shown.iter().any(|s| s == name),
                "{name} is not on the dashboard"
            );
        }
    }

    #[test]
    fn substitution_is_strict() {
        let mut subs = BTreeMap::new();
        subs.insert("A".to_string(), "x".to_string());
        assert_eq!(substitute("${A}-${A}", &subs).unwrap(), "x-x");
        assert!(substitute("${B}", &subs).is_err());
        assert!(substitute("${A", &subs).is_err());
    }
}
