//! The IAM roles of the template, as the local stack creates them: each with its trust policy and
//! its inline policies exactly as SAM expands them, intrinsics resolved with the local deployment's
//! parameters. A function's role carries the access key the function signs with locally
//! (`stackgate-function-<binary>`, in the workspace's cargo-lambda metadata): moto's patched
//! enforcement treats that key as a session of the role, so the function runs under its own policy.

use std::collections::BTreeMap;

use serde_json::Value;

use super::intrinsics::Resolver;

/// The tag that names the local access key of a role's session (read by `scripts/moto-server.py`).
pub const ACCESS_KEY_TAG: &str = "stackgate:local-access-key";

/// The access key a function signs with locally.
pub fn function_access_key(binary: &str) -> String {
    format!("stackgate-function-{binary}")
}

/// The key a binary signs with locally (what the workspace's cargo-lambda metadata gives it): its
/// own, or, for the benchmark's baseline (the first step of create-change-set), that function's.
pub fn binary_access_key(binary: &str) -> String {
    function_access_key(match binary {
        "check-stack" => "create-change-set",
        other => other,
    })
}

/// A role to create.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalRole {
    pub name: String,
    pub trust: Value,
    /// (policy name, document), resolved.
    pub policies: Vec<(String, Value)>,
    /// For a function's role: the key its function signs with.
    pub access_key: Option<String>,
}

/// Every role of a translated template. Managed policies (by ARN) are not attached: the ones SAM
/// adds (basic execution, X-Ray) cover what the Lambda service does for a function, not the
/// function's own calls.
pub fn local_roles(
    template: &Value,
    parameters: BTreeMap<String, String>,
) -> Result<Vec<LocalRole>, String> {
    let resolver = Resolver::new(template).with_values(parameters);
    let resources = template
        .get("Resources")
        .and_then(Value::as_object)
        .ok_or("the template has no Resources")?;
    let mut keys = BTreeMap::new();
    for resource in resources.values() {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Lambda::Function") {
            continue;
        }
        let binary = resource
            .pointer("/Metadata/BuildProperties/Binary")
            .and_then(Value::as_str);
        let role = resource
            .pointer("/Properties/Role/Fn::GetAtt/0")
            .and_then(Value::as_str);
        if let (Some(binary), Some(role)) = (binary, role) {
            keys.insert(role.to_owned(), function_access_key(binary));
        }
    }
    let mut roles = Vec::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::IAM::Role") {
            continue;
        }
        let properties = resource.get("Properties").cloned().unwrap_or_default();
        let trust = resolver
            .resolve_document(
                properties
                    .get("AssumeRolePolicyDocument")
                    .unwrap_or(&Value::Null),
            )
            .map_err(|e| format!("{id}: {e}"))?;
        // Resolved as a whole: a policy may be one branch of an `Fn::If` (a grant that only some
        // parameters call for), and `AWS::NoValue` drops it.
        let resolved = resolver
            .resolve_document(properties.get("Policies").unwrap_or(&Value::Null))
            .map_err(|e| format!("{id}: {e}"))?;
        let mut policies = Vec::new();
        for policy in resolved.as_array().into_iter().flatten() {
            let name = policy
                .get("PolicyName")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{id}: a policy without a name"))?;
            let document = policy.get("PolicyDocument").cloned().unwrap_or_default();
            policies.push((name.to_owned(), document));
        }
        roles.push(LocalRole {
            name: id.clone(),
            trust,
            policies,
            access_key: keys.get(id).cloned(),
        });
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_functions_role_carries_its_key_and_its_policies_resolved() {
        let template = json!({
            "Parameters": {"Bucket": {"Type": "String", "Default": ""}},
            "Conditions": {"NoBucket": {"Fn::Equals": [{"Ref": "Bucket"}, ""]}},
            "Resources": {
                "PlanFunction": {"Type": "AWS::Lambda::Function",
                    "Metadata": {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": "plan"}},
                    "Properties": {"Role": {"Fn::GetAtt": ["PlanFunctionRole", "Arn"]}}},
                "PlanFunctionRole": {"Type": "AWS::IAM::Role", "Properties": {
                    "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRole"],
                        "Principal": {"Service": ["lambda.amazonaws.com"]}}]},
                    "ManagedPolicyArns": ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
                    "Policies": [{"PolicyName": "read", "PolicyDocument": {"Statement": [{
                        "Effect": "Allow", "Action": "s3:GetObject",
                        "Resource": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/*"}}]}},
                        // A grant only some parameters call for: dropped when its condition is false.
                        {"Fn::If": ["NoBucket", {"PolicyName": "never", "PolicyDocument": {}}, {"Ref": "AWS::NoValue"}]}]
                }},
                "OtherRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}}
            }
        });
        let roles = local_roles(&template, [("Bucket".into(), "art".into())].into()).unwrap();
        let plan = roles.iter().find(|r| r.name == "PlanFunctionRole").unwrap();
        assert_eq!(plan.access_key.as_deref(), Some("stackgate-function-plan"));
        assert_eq!(
            plan.policies,
            [(
                "read".to_string(),
                json!({"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::art/*"}]})
            )]
        );
        let other = roles.iter().find(|r| r.name == "OtherRole").unwrap();
        assert_eq!(other.access_key, None);
    }

    /// Each function signs with its own key locally (cargo-lambda's per-binary environment): one
    /// missing would run that function with the shared key, as an administrator.
    #[test]
    fn every_function_has_its_own_key_in_the_workspace_metadata() {
        let root = crate::repo_root();
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let mut functions: Vec<String> = std::fs::read_dir(root.join("functions"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        functions.sort();
        assert!(functions.len() > 10, "{functions:?}");
        for function in functions {
            let entry = format!(
                "[workspace.metadata.lambda.bin.{function}.env]\nAWS_ACCESS_KEY_ID = \"{}\"",
                binary_access_key(&function)
            );
            assert!(manifest.contains(&entry), "Cargo.toml lacks {entry}");
        }
        // The other binary cargo-lambda serves: the benchmark's baseline, a part of create-change-set.
        let entry = format!(
            "[workspace.metadata.lambda.bin.check-stack.env]\nAWS_ACCESS_KEY_ID = \"{}\"",
            binary_access_key("check-stack")
        );
        assert!(manifest.contains(&entry), "Cargo.toml lacks {entry}");
    }
}
