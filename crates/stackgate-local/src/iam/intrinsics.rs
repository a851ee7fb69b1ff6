//! CloudFormation's intrinsic functions, resolved the way a deployment in the local account would
//! resolve them: pseudo parameters to the local account and region, parameters to the deployment's
//! values or their defaults, a resource's `Ref` and `Fn::GetAtt` to the name or ARN AWS gives that
//! type, named as the local stack names it (`template.rs`). Enough to read the IAM policies of a translated template; anything else is an error, so
//! that a grant this code cannot read never counts as a grant.

use std::collections::BTreeMap;

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
    conditions: &'a Map<String, Value>,
    /// The values a deployment gives parameters (the rest take their defaults).
    values: BTreeMap<String, String>,
}

impl<'a> Resolver<'a> {
    pub fn new(template: &'a Value) -> Self {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let empty = EMPTY.get_or_init(Map::new);
        let section = |name: &str| template.get(name).and_then(Value::as_object);
        Resolver {
            parameters: section("Parameters").unwrap_or(empty),
            resources: section("Resources").unwrap_or(empty),
            conditions: section("Conditions").unwrap_or(empty),
            values: BTreeMap::new(),
        }
    }

    /// The same template deployed with these parameter values.
    pub fn with_values(mut self, values: BTreeMap<String, String>) -> Self {
        self.values = values;
        self
    }

    /// A JSON document (a policy) with every intrinsic in it resolved; `AWS::NoValue` drops the
    /// list item or the key it stands for.
    pub fn resolve_document(&self, value: &Value) -> Result<Value, String> {
        match value {
            // A chosen branch may be any document (a whole statement), not only a string.
            Value::Object(map) if map.len() == 1 && map.contains_key("Fn::If") => {
                self.resolve_document(self.chosen(&map["Fn::If"])?)
            }
            Value::Object(map) if is_intrinsic(map) => Ok(match self.resolve(value)? {
                Resolved::One(one) => Value::String(one),
                Resolved::Many(many) => Value::Array(many.into_iter().map(Value::String).collect()),
            }),
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    if !self.is_no_value(item)? {
                        out.insert(key.clone(), self.resolve_document(item)?);
                    }
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    if self.is_no_value(item)? {
                        continue;
                    }
                    match self.resolve_document(item)? {
                        // A list an intrinsic gave (`Fn::Split`) is spliced, as CloudFormation does.
                        Value::Array(many) if is_intrinsic_value(item) => out.extend(many),
                        other => out.push(other),
                    }
                }
                Ok(Value::Array(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn is_no_value(&self, value: &Value) -> Result<bool, String> {
        if value.get("Ref").and_then(Value::as_str) == Some("AWS::NoValue") {
            return Ok(true);
        }
        match value.get("Fn::If") {
            Some(argument @ Value::Array(parts)) if parts.len() == 3 => {
                self.is_no_value(self.chosen(argument)?)
            }
            _ => Ok(false),
        }
    }

    /// The branch `Fn::If` takes: `[condition, if true, if false]`.
    fn chosen<'v>(&self, argument: &'v Value) -> Result<&'v Value, String> {
        let parts = argument
            .as_array()
            .filter(|p| p.len() == 3)
            .ok_or("Fn::If needs three arguments")?;
        Ok(if self.condition_named(&parts[0])? {
            &parts[1]
        } else {
            &parts[2]
        })
    }

    /// The value of a named condition of the template.
    fn condition_named(&self, name: &Value) -> Result<bool, String> {
        let name = name.as_str().ok_or("a condition is named by a string")?;
        let condition = self
            .conditions
            .get(name)
            .ok_or_else(|| format!("condition {name} is not in the template"))?;
        self.condition(condition)
    }

    fn condition(&self, value: &Value) -> Result<bool, String> {
        let Value::Object(map) = value else {
            return Err("a condition is an object".into());
        };
        let (function, argument) = map.iter().next().ok_or("an empty condition")?;
        let list = argument.as_array();
        match (function.as_str(), list) {
            ("Condition", _) => self.condition_named(argument),
            ("Fn::Equals", Some(pair)) if pair.len() == 2 => {
                let text = |v: &Value| -> Result<String, String> {
                    self.resolve(v)?.into_string("Fn::Equals")
                };
                Ok(text(&pair[0])? == text(&pair[1])?)
            }
            ("Fn::Not", Some(one)) if one.len() == 1 => Ok(!self.condition(&one[0])?),
            ("Fn::And", Some(all)) => all
                .iter()
                .try_fold(true, |acc, c| Ok(acc && self.condition(c)?)),
            ("Fn::Or", Some(any)) => any
                .iter()
                .try_fold(false, |acc, c| Ok(acc || self.condition(c)?)),
            (other, _) => Err(format!(
                "{other} is not a condition function this check reads"
            )),
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
            "Fn::If" => {
                let chosen = self.chosen(argument)?;
                if self.is_no_value(chosen)? {
                    return Ok(Resolved::Many(Vec::new()));
                }
                self.resolve(chosen)
            }
            "Fn::Select" => {
                let [index, list] = pair(argument, "Fn::Select")?;
                let index: usize = match index {
                    Value::String(s) => s.parse().map_err(|_| "Fn::Select needs an index")?,
                    Value::Number(n) => n.as_u64().ok_or("Fn::Select needs an index")? as usize,
                    _ => return Err("Fn::Select needs an index".into()),
                };
                let items = self.resolve(list)?.into_strings();
                items
                    .get(index)
                    .cloned()
                    .map(Resolved::One)
                    .ok_or_else(|| "Fn::Select past the end".into())
            }
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
        if let Some(value) = self.values.get(name) {
            return Ok(value.clone());
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
            _ => self.physical_name(name, kind),
        })
    }

    /// The name the local stack gives a resource (`template.rs`): buckets and tables get a prefix,
    /// a function is named by its binary, everything else by its logical id.
    fn physical_name(&self, id: &str, kind: &str) -> String {
        match kind {
            "AWS::S3::Bucket" | "AWS::DynamoDB::Table" => crate::template::bucket_name(id),
            "AWS::Lambda::Function" => self
                .resources
                .get(id)
                .and_then(|r| r.pointer("/Metadata/BuildProperties/Binary"))
                .and_then(Value::as_str)
                .unwrap_or(id)
                .to_owned(),
            _ => id.to_owned(),
        }
    }

    fn attribute(&self, id: &str, attribute: &str) -> Result<String, String> {
        let kind = self.kind_of(id)?;
        let arn =
            |service: &str, path: &str| format!("arn:aws:{service}:{REGION}:{ACCOUNT}:{path}");
        let name = self.physical_name(id, kind);
        let value = match (kind, attribute) {
            ("AWS::Lambda::Function", "Arn") => arn("lambda", &format!("function:{name}")),
            ("AWS::SNS::Topic", "TopicArn" | "Arn") => arn("sns", id),
            ("AWS::SNS::Topic", "TopicName") => id.to_owned(),
            ("AWS::StepFunctions::StateMachine", "Arn") => {
                arn("states", &format!("stateMachine:{id}"))
            }
            ("AWS::StepFunctions::StateMachine", "Name") => id.to_owned(),
            ("AWS::StepFunctions::Activity", "Arn") => arn("states", &format!("activity:{id}")),
            ("AWS::DynamoDB::Table", "Arn") => arn("dynamodb", &format!("table/{name}")),
            ("AWS::SQS::Queue", "Arn") => arn("sqs", id),
            ("AWS::SQS::Queue", "QueueName") => id.to_owned(),
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{name}"),
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

fn is_intrinsic(map: &Map<String, Value>) -> bool {
    map.len() == 1 && map.keys().all(|k| k == "Ref" || k.starts_with("Fn::"))
}

fn is_intrinsic_value(value: &Value) -> bool {
    value.as_object().is_some_and(is_intrinsic)
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
        assert!(resolve(json!({"Fn::If": ["Unknown", "a", "b"]})).is_err());
        assert!(resolve(json!({"Fn::GetAZs": ""})).is_err());
    }

    #[test]
    fn conditions_choose_and_no_value_drops() {
        let mut template = template();
        template["Conditions"] = json!({
            "HasBucket": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Bucket"}, ""]}]},
            "Both": {"Fn::And": [{"Condition": "HasBucket"}, {"Fn::Equals": ["a", "a"]}]}
        });
        template["Parameters"]["Bucket"] = json!({"Type": "String", "Default": ""});
        let document = json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": [
            "arn:aws:s3:::staging/*",
            {"Fn::If": ["Both", {"Fn::Sub": "arn:aws:s3:::${Bucket}/*"}, {"Ref": "AWS::NoValue"}]},
            {"Fn::Select": [1, {"Fn::Split": [",", "a,b"]}]}
        ]}]});
        let default = Resolver::new(&template)
            .resolve_document(&document)
            .unwrap();
        assert_eq!(
            default["Statement"][0]["Resource"],
            json!(["arn:aws:s3:::staging/*", "b"])
        );
        let given = Resolver::new(&template)
            .with_values([("Bucket".to_string(), "art".to_string())].into())
            .resolve_document(&document)
            .unwrap();
        assert_eq!(
            given["Statement"][0]["Resource"],
            json!(["arn:aws:s3:::staging/*", "arn:aws:s3:::art/*", "b"])
        );
        let statements = json!([
            {"Fn::If": ["HasBucket", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "x"}, {"Ref": "AWS::NoValue"}]},
            {"Fn::If": ["Both", {"Ref": "AWS::NoValue"}, {"Effect": "Deny", "Action": "*", "Resource": "*"}]}
        ]);
        assert_eq!(
            Resolver::new(&template)
                .resolve_document(&statements)
                .unwrap(),
            json!([{"Effect": "Deny", "Action": "*", "Resource": "*"}])
        );
        // IAM's own condition blocks are data, not intrinsics.
        let condition = json!({"StringEquals": {"aws:ResourceTag/stackgate:managed": "true"}});
        assert_eq!(
            Resolver::new(&template)
                .resolve_document(&condition)
                .unwrap(),
            condition
        );
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
