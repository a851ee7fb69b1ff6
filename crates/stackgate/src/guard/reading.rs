//! A template read as JSON, the way CloudFormation reads it: what the Guard rules evaluate, and
//! where the plan looks for the files a template includes.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::TaskError;

/// The template as JSON: CloudFormation's YAML short forms (`!Ref`, `!GetAtt a.b`, `!Sub` …) become
/// their long forms, as CloudFormation reads them.
pub fn template_json(template: &str) -> Result<Value, TaskError> {
    let trimmed = template.trim_start();
    if trimmed.starts_with('{') {
        // A key written twice is read one way here and may be read another by CloudFormation: a
        // resource or an include could hide behind it. YAML's reader refuses it already.
        serde_json::from_str::<NoDuplicateKeys>(trimmed).map_err(|_| {
            TaskError::InvalidTemplate(
                "the template is not valid JSON, or writes a key twice in one object".into(),
            )
        })?;
        return serde_json::from_str(trimmed)
            .map_err(|_| TaskError::InvalidTemplate("the template is not valid JSON".into()));
    }
    let yaml: serde_yaml::Value = serde_yaml::from_str(template)
        .map_err(|_| TaskError::InvalidTemplate("the template is not valid YAML".into()))?;
    yaml_to_json(yaml)
}

/// Reads any JSON and fails on an object that has a key twice.
struct NoDuplicateKeys;

impl<'de> serde::Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeys)
    }
}

impl<'de> serde::de::Visitor<'de> for NoDuplicateKeys {
    type Value = NoDuplicateKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut keys = BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !keys.insert(key) {
                return Err(serde::de::Error::custom("a key written twice"));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(self)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(self)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self)
    }
}

fn yaml_to_json(value: serde_yaml::Value) -> Result<Value, TaskError> {
    use serde_yaml::Value as Yaml;
    Ok(match value {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Value::Null),
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(yaml_to_json)
                .collect::<Result<_, _>>()?,
        ),
        Yaml::Mapping(map) => {
            let mut object = serde_json::Map::new();
            for (key, value) in map {
                let key = match key {
                    Yaml::String(s) => s,
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) => n.to_string(),
                    _ => {
                        return Err(TaskError::InvalidTemplate(
                            "the template has a key that is not a string".into(),
                        ))
                    }
                };
                // Two keys that read as one (`16` and `"16"`, or `0o20`, which YAML 1.1 readers
                // keep as text) would let one hide the other from this reader.
                if object.insert(key, yaml_to_json(value)?).is_some() {
                    return Err(TaskError::InvalidTemplate(
                        "the template writes a key twice in one mapping (as a number and as text)"
                            .into(),
                    ));
                }
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = yaml_to_json(tagged.value)?;
            let (key, inner) = match name {
                "Ref" | "Condition" => (name.to_string(), inner),
                // `!GetAtt Resource.Attribute` is the list form's short hand.
                "GetAtt" => match inner {
                    Value::String(text) => match text.split_once('.') {
                        Some((resource, attribute)) => (
                            "Fn::GetAtt".to_string(),
                            Value::Array(vec![resource.into(), attribute.into()]),
                        ),
                        None => ("Fn::GetAtt".to_string(), Value::String(text)),
                    },
                    other => ("Fn::GetAtt".to_string(), other),
                },
                other => (format!("Fn::{other}"), inner),
            };
            let mut object = serde_json::Map::new();
            object.insert(key, inner);
            Value::Object(object)
        }
    })
}
