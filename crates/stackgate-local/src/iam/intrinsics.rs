//! CloudFormation's intrinsic functions, resolved the way a deployment in the local account would
//! resolve them: pseudo parameters to the local account and region, parameters to their defaults,
//! a resource's `Ref` and `Fn::GetAtt` to the name or ARN AWS gives that type (named by its logical
//! id). Enough to read the IAM policies of a translated template; anything else is an error, so
//! that a grant this code cannot read never counts as a grant.

use serde_json::{Map, Value};

use crate::template::ACCOUNT;

pub const REGION: &str = "us-east-1";

/// A resolved value: a string, or a list of strings (`Fn::Split`, a list of resources).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    One(String),
    Many(Vec<String>),
}

impl Resolved {
    pub fn into_strings(self) -> Vec<String> {
        match self {
            Resolved::One(one) => vec![one],
            Resolved::Many(many) => many,
        }
    }

    fn into_string(self, context: &str) -> Result<String, String> {
        match self {
            Resolved::One(one) => Ok(one),
            Resolved::Many(_) => Err(format!("{context} needs a string, not a list")),
        }
    }
}

/// The template whose parameters and resources names and ARNs are read from.
pub struct Resolver<'a> {
    parameters: &'a Map<String, Value>,
    resources: &'a Map<String, Value>,
}

impl<'a> Resolver<'a> {
    pub fn new(template: &'a Value) -> Self {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let empty = EMPTY.get_or_init(Map::new);
        let section = |name: &str| template.get(name).and_then(Value::as_object);
        Resolver {
            parameters: section("Parameters").unwrap_or(empty),
            resources: section("Resources").unwrap_or(empty),
        }
    }

    pub fn resolve(&self, value: &Value) -> Result<Resolved, String> {
        match value {
            Value::String(s) => Ok(Resolved::One(s.clone())),
            Value::Array(items) => {
                let mut all = Vec::new();
                for item in items {
                    all.extend(self.resolve(item)?.into_strings());
                }
                Ok(Resolved::Many(all))
            }
            Value::Object(map) if map.len() == 1 => {
                let (function, argument) = map.iter().next().expect("one entry");
                self.function(function, argument)
            }
            other => Err(format!("cannot resolve {}", kind(other))),
        }
    }

    fn function(&self, function: &str, argument: &Value) -> Result<Resolved, String> {
        match function {
            "Ref" => {
                let name = argument.as_str().ok_or("Ref needs a name")?;
                self.reference(name).map(Resolved::One)
            }
            "Fn::GetAtt" => {
                let (id, attribute) = match argument {
                    Value::Array(parts) if parts.len() == 2 => (
                        parts[0].as_str().ok_or("Fn::GetAtt needs names")?,
                        parts[1].as_str().ok_or("Fn::GetAtt needs names")?,
                    ),
                    Value::String(dotted) => dotted.split_once('.').ok_or("Fn::GetAtt X.Y")?,
                    _ => return Err("Fn::GetAtt needs [resource, attribute]".into()),
                };
                self.attribute(id, attribute).map(Resolved::One)
            }
            "Fn::Sub" => self.sub(argument).map(Resolved::One),
            "Fn::Join" => {
                let [separator, items] = pair(argument, "Fn::Join")?;
                let separator = separator.as_str().ok_or("Fn::Join needs a separator")?;
                let parts = self.resolve(items)?.into_strings();
                Ok(Resolved::One(parts.join(separator)))
            }
            "Fn::Split" => {
                let [separator, source] = pair(argument, "Fn::Split")?;
                let separator = separator.as_str().ok_or("Fn::Split needs a separator")?;
                let source = self.resolve(source)?.into_string("Fn::Split")?;
                Ok(Resolved::Many(
                    source.split(separator).map(str::to_owned).collect(),
                ))
            }
            other => Err(format!("{other} is not read by this check")),
        }
    }

    /// `Fn::Sub`, in its string and `[string, variables]` forms.
    fn sub(&self, argument: &Value) -> Result<String, String> {
        let (text, variables) = match argument {
            Value::String(text) => (text.as_str(), None),
            Value::Array(parts) if parts.len() == 2 => (
                parts[0].as_str().ok_or("Fn::Sub needs a string")?,
                parts[1].as_object(),
            ),
            _ => return Err("Fn::Sub needs a string or [string, variables]".into()),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or("Fn::Sub has an unclosed ${")?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.and_then(|v| v.get(name)) {
                out.push_str(&self.resolve(value)?.into_string("a Fn::Sub variable")?);
            } else if let Some((id, attribute)) = name.split_once('.') {
                out.push_str(&self.attribute(id, attribute)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn reference(&self, name: &str) -> Result<String, String> {
        match name {
            "AWS::Partition" => return Ok("aws".into()),
            "AWS::Region" => return Ok(REGION.into()),
            "AWS::AccountId" => return Ok(ACCOUNT.into()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".into()),
            "AWS::StackName" => return Ok("stackgate".into()),
            _ => {}
        }
        if let Some(parameter) = self.parameters.get(name) {
            // Without a default the value is the operator's: a token only the same Ref matches.
            return Ok(match parameter.get("Default").and_then(Value::as_str) {
                Some(default) => default.to_owned(),
                None => format!("{{parameter {name}}}"),
            });
        }
        let kind = self.kind_of(name)?;
        Ok(match kind {
            "AWS::SNS::Topic"
            | "AWS::StepFunctions::StateMachine"
            | "AWS::StepFunctions::Activity" => self.attribute(name, "Arn")?,
            _ => name.to_owned(),
        })
    }

    fn attribute(&self, id: &str, attribute: &str) -> Result<String, String> {
        let kind = self.kind_of(id)?;
        let arn =
            |service: &str, path: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{path}");
        let value = match (kind, attribute) {
            ("AWS::Lambda::Function", "Arn") => arn("lambda", &format!("function:{id}")),
            ("AWS::SNS::Topic", "TopicArn" | "Arn") => arn("sns", id),
            ("AWS::SNS::Topic", "TopicName") => id.to_owned(),
            ("AWS::StepFunctions::StateMachine", "Arn") => {
                arn("states", &format!("stateMachine:{id}"))
            }
            ("AWS::StepFunctions::StateMachine", "Name") => id.to_owned(),
            ("AWS::StepFunctions::Activity", "Arn") => arn("states", &format!("activity:{id}")),
            ("AWS::DynamoDB::Table", "Arn") => arn("dynamodb", &format!("table/{id}")),
            ("AWS::SQS::Queue", "Arn") => arn("sqs", id),
            ("AWS::SQS::Queue", "QueueName") => id.to_owned(),
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{id}"),
            ("AWS::IAM::Role", "Arn") => format!("arn:aws:iam::{ACCOUNT}:role/{id}"),
            ("AWS::Logs::LogGroup", "Arn") => arn("logs", &format!("log-group:{id}:*")),
            ("AWS::Events::Rule", "Arn") => arn("events", &format!("rule/{id}")),
            _ => {
                return Err(format!(
                    "{kind}'s {attribute} is not read by this check ({id})"
                ))
            }
        };
        Ok(value)
    }

    fn kind_of(&self, id: &str) -> Result<&str, String> {
        self.resources
            .get(id)
            .and_then(|r| r.get("Type"))
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{id} is neither a parameter nor a resource of the template"))
    }
}

fn pair<'v>(argument: &'v Value, function: &str) -> Result<[&'v Value; 2], String> {
    match argument {
        Value::Array(parts) if parts.len() == 2 => Ok([&parts[0], &parts[1]]),
        _ => Err(format!("{function} needs two arguments")),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object of several keys",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn template() -> Value {
        json!({
            "Parameters": {
                "Environments": {"Type": "String", "Default": "dev,prod"},
                "RoleARN": {"Type": "String"}
            },
            "Resources": {
                "Fn": {"Type": "AWS::Lambda::Function"},
                "Topic": {"Type": "AWS::SNS::Topic"},
                "Deploy": {"Type": "AWS::StepFunctions::StateMachine"},
                "Table": {"Type": "AWS::DynamoDB::Table"},
                "Widget": {"Type": "AWS::Example::Widget"}
            }
        })
    }

    fn resolve(value: Value) -> Result<Resolved, String> {
        Resolver::new(&template()).resolve(&value)
    }

    #[test]
    fn refs_and_attributes_resolve_as_aws_names_them() {
        let one = |s: &str| Ok(Resolved::One(s.into()));
        assert_eq!(resolve(json!({"Ref": "Fn"})), one("Fn"));
        assert_eq!(
            resolve(json!({"Fn::GetAtt": ["Fn", "Arn"]})),
            one("arn:aws:lambda:us-east-1:123456789012:function:Fn")
        );
        assert_eq!(
            resolve(json!({"Ref": "Topic"})),
            one("arn:aws:sns:us-east-1:123456789012:Topic")
        );
        assert_eq!(
            resolve(json!({"Ref": "Deploy"})),
            one("arn:aws:states:us-east-1:123456789012:stateMachine:Deploy")
        );
        assert_eq!(
            resolve(json!({"Ref": "RoleARN"})),
            one("{parameter RoleARN}")
        );
        assert!(resolve(json!({"Fn::GetAtt": ["Widget", "Arn"]})).is_err());
        assert!(resolve(json!({"Ref": "Nothing"})).is_err());
        assert!(resolve(json!({"Fn::If": ["C", "a", "b"]})).is_err());
    }

    #[test]
    fn sub_join_and_split_compose() {
        let sub = json!({"Fn::Sub": [
            "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${name}-${!Literal}-${Deploy.Name}",
            {"name": {"Fn::GetAtt": ["Topic", "TopicName"]}}
        ]});
        assert_eq!(
            resolve(sub),
            Ok(Resolved::One(
                "arn:aws:sns:us-east-1:123456789012:Topic-${Literal}-Deploy".into()
            ))
        );
        let split = json!({"Fn::Split": [",", {"Fn::Join": ["", [
            "stack/", {"Fn::Join": ["-*,stack/", {"Fn::Split": [",", {"Ref": "Environments"}]}]}, "-*"
        ]]}]});
        assert_eq!(
            resolve(split),
            Ok(Resolved::Many(vec![
                "stack/dev-*".into(),
                "stack/prod-*".into()
            ]))
        );
        assert!(resolve(json!({"Fn::Sub": "${Unclosed"})).is_err());
    }
}
