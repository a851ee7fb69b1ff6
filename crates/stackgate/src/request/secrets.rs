//! Secret parameters: accepted only as references CloudFormation resolves itself, so that no
//! secret enters a workflow's state or history.

use super::Deployment;
use crate::TaskError;

/// A parameter as the template declares it (CloudFormation's GetTemplateSummary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredParameter {
    pub name: String,
    pub no_echo: bool,
    /// `AWS::SSM::Parameter::Value<...>`: the value given is a parameter's name, not its value.
    pub ssm_typed: bool,
}

/// Whether a parameter value is a reference to a secret rather than the secret: one dynamic
/// reference CloudFormation resolves itself and nothing else, or, for a parameter of an SSM
/// parameter type, the name of an SSM parameter.
pub fn is_secret_reference(value: &str, ssm_typed: bool) -> bool {
    let value = value.trim();
    let dynamic = [
        "{{resolve:ssm-secure:",
        "{{resolve:secretsmanager:",
        "{{resolve:ssm:",
    ]
    .iter()
    .find_map(|prefix| value.strip_prefix(prefix))
    .and_then(|rest| rest.strip_suffix("}}"))
    .is_some_and(|inner| !inner.is_empty() && !inner.contains(['{', '}']));
    let ssm_name = ssm_typed
        && value.starts_with('/')
        && value.len() > 1
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-/".contains(c));
    dynamic || ssm_name
}

/// Refuses a plain value for a secret parameter: one the template declares `NoEcho`, or one the
/// request lists in `secretParameters`. The error names the parameter and says how to pass it;
/// it never repeats the value.
pub fn check_secret_parameters(
    deployment: &Deployment,
    declared: &[DeclaredParameter],
) -> Result<(), TaskError> {
    let no_echo = declared.iter().filter(|p| p.no_echo).map(|p| &p.name);
    for name in no_echo.chain(&deployment.secret_parameters) {
        if let Some(value) = deployment.parameters.get(name) {
            let ssm_typed = declared.iter().any(|p| &p.name == name && p.ssm_typed);
            if !is_secret_reference(value, ssm_typed) {
                return Err(TaskError::invalid(
                    format!("parameters.{name}"),
                    "is a secret (NoEcho in the template, or listed in secretParameters): pass a reference, {{resolve:ssm-secure:/name}} or {{resolve:secretsmanager:id}} (or, for an SSM parameter type, the parameter's name), never the value",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::parse_deployment;
    use serde_json::{json, Value};

    #[test]
    fn secret_parameters_are_passed_by_reference_only() {
        let deployment = |parameters: Value, listed: Value| {
            parse_deployment(
                &json!({"environmentName":"dev","stackName":"a","templateUrl":"https://x/y",
                        "parameters": parameters, "secretParameters": listed}),
                "e",
            )
            .unwrap()
        };
        let declared = |name: &str, ssm_typed: bool| DeclaredParameter {
            name: name.into(),
            no_echo: true,
            ssm_typed,
        };
        let no_echo = vec![declared("DbPassword", false)];
        for reference in [
            "{{resolve:ssm-secure:/app/db/password}}",
            "{{resolve:secretsmanager:prod/db:SecretString:password}}",
        ] {
            let d = deployment(json!({"DbPassword": reference}), json!([]));
            assert_eq!(check_secret_parameters(&d, &no_echo), Ok(()), "{reference}");
        }
        // A name is a reference only where the template's type says the value is a name.
        let by_name = deployment(json!({"DbPassword": "/Secr3t-pw"}), json!([]));
        assert!(check_secret_parameters(&by_name, &no_echo).is_err());
        assert_eq!(
            check_secret_parameters(&by_name, &[declared("DbPassword", true)]),
            Ok(())
        );
        let plain = deployment(json!({"DbPassword": "hunter2", "Size": "3"}), json!([]));
        let refused = check_secret_parameters(&plain, &no_echo).unwrap_err();
        assert!(
            matches!(&refused, TaskError::InvalidInput { field, .. } if field == "parameters.DbPassword"),
            "{refused:?}"
        );
        assert!(!refused.to_string().contains("hunter2"));
        let listed = deployment(json!({"ApiToken": "tok-123"}), json!(["ApiToken"]));
        assert!(check_secret_parameters(&listed, &[]).is_err());
        for bad in [
            "{{resolve:ssm-secure:/a}}{{resolve:ssm-secure:/b}}",
            "{{resolve:ssm:/x}}hunter2}}",
            "x{{resolve:ssm-secure:/a}}",
            "{{resolve:ssm-secure:}}",
            "/",
            "hunter2",
        ] {
            assert!(!is_secret_reference(bad, true), "{bad}");
        }
        // Written out, a deployment never carries parameter values.
        let text = serde_json::to_string(&plain).unwrap();
        assert!(
            !text.contains("hunter2") && !text.contains("\"Size\""),
            "{text}"
        );
    }
}
