//! The compat routes: the first API's `POST /create`, `GET /state/{stackname}` and `POST /delete`,
//! converted to the current contract so that one path validates and starts every request.

use serde_json::{json, Map, Value};

use super::{ApiConfig, Problem};

/// The compat route `POST /create {"stackname","templateurl"}` as a `POST /stacks` body: the stack name
/// is the full name, `<environment>-<name>`.
pub fn compat_create_body(
    body: Map<String, Value>,
    config: &ApiConfig,
) -> Result<Map<String, Value>, Problem> {
    if let Some(unknown) = body
        .keys()
        .find(|k| !["stackname", "templateurl"].contains(&k.as_str()))
    {
        return Err(Problem::invalid(
            crate::request::key_name(unknown),
            "unknown field; accepted: stackname, templateurl",
        ));
    }
    let name = compat_name(&body)?;
    let url = match body.get("templateurl") {
        Some(Value::String(url)) if !url.trim().is_empty() => url.trim().to_string(),
        Some(_) => {
            return Err(Problem::invalid(
                "templateurl",
                "must be a non-empty string",
            ))
        }
        None => return Err(Problem::invalid("templateurl", "is required")),
    };
    let environment = config.guardrails.environment_of(&name).ok_or_else(|| {
        Problem::invalid(
            "stackname",
            format!(
                "must start with a managed environment and a hyphen ({})",
                config.guardrails.environments.join(", ")
            ),
        )
    })?;
    let mut converted = Map::new();
    converted.insert("environmentName".into(), json!(environment));
    converted.insert("stackName".into(), json!(&name[environment.len() + 1..]));
    converted.insert("templateUrl".into(), json!(url));
    Ok(converted)
}

/// The `stackname` of a compat route's body.
pub fn compat_name(body: &Map<String, Value>) -> Result<String, Problem> {
    match body.get("stackname") {
        Some(Value::String(name)) if !name.trim().is_empty() => Ok(name.trim().to_string()),
        Some(_) => Err(Problem::invalid("stackname", "must be a non-empty string")),
        None => Err(Problem::invalid("stackname", "is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::{body, config};

    #[test]
    fn compat_bodies_convert_to_the_new_contract() {
        let c = config();
        let converted = compat_create_body(
            body(json!({"stackname":"euprod-app","templateurl":"https://templates.s3.amazonaws.com/a.yaml"})),
            &c,
        )
        .unwrap();
        assert_eq!(converted["environmentName"], "euprod");
        assert_eq!(converted["stackName"], "app");
        for (input, field) in [
            (json!({"templateurl":"https://x"}), "stackname"),
            (
                json!({"stackname":"qa-app","templateurl":"https://x"}),
                "stackname",
            ),
            (json!({"stackname":"prod-app"}), "templateurl"),
            (
                json!({"stackname":"prod-app","templateurl":"x","extra":1}),
                "extra",
            ),
        ] {
            let problem = compat_create_body(body(input.clone()), &c).unwrap_err();
            assert_eq!(problem.field.as_deref(), Some(field), "{input}");
        }
    }
}
