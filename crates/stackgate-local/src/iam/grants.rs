//! Whether a role's policies allow an action, as IAM evaluates them: an explicit Deny wins, then
//! any Allow; actions match case-insensitively, resources case-sensitively, both with `*` and `?`.
//! Conditions are not evaluated: a statement under a condition counts as granting (the condition
//! narrows which resources at run time, e.g. by tag; the check is that a grant exists at all).

use serde_json::Value;

use super::intrinsics::Resolver;

/// One statement, its intrinsics resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub allow: bool,
    /// `NotAction`: the statement covers every action but these.
    pub not_action: bool,
    pub actions: Vec<String>,
    /// `NotResource`: the statement covers every resource but these.
    pub not_resource: bool,
    pub resources: Vec<String>,
}

/// The statements of a role's inline policies. Managed policies (by ARN) are not read: a grant
/// only they give is reported missing, which is the safe way to be wrong.
pub fn role_statements(role: &Value, resolver: &Resolver) -> Result<Vec<Statement>, String> {
    let mut all = Vec::new();
    let policies = role
        .pointer("/Properties/Policies")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for policy in &policies {
        let name = policy
            .get("PolicyName")
            .and_then(Value::as_str)
            .unwrap_or("(unnamed)");
        let document = resolver
            .resolve_document(policy.get("PolicyDocument").unwrap_or(&Value::Null))
            .map_err(|e| format!("{name}: {e}"))?;
        let statements = match document.get("Statement") {
            Some(Value::Array(list)) => list.clone(),
            Some(one) => vec![one.clone()],
            None => Vec::new(),
        };
        for statement in &statements {
            all.push(read_statement(statement, resolver).map_err(|e| format!("{name}: {e}"))?);
        }
    }
    Ok(all)
}

fn read_statement(statement: &Value, resolver: &Resolver) -> Result<Statement, String> {
    let allow = match statement.get("Effect").and_then(Value::as_str) {
        Some("Allow") => true,
        Some("Deny") => false,
        _ => return Err("a statement without Effect Allow or Deny".into()),
    };
    let (not_action, actions) = either(statement, "Action", "NotAction", resolver)?;
    let (not_resource, resources) = either(statement, "Resource", "NotResource", resolver)?;
    Ok(Statement {
        allow,
        not_action,
        actions,
        not_resource,
        resources,
    })
}

fn either(
    statement: &Value,
    key: &str,
    not_key: &str,
    resolver: &Resolver,
) -> Result<(bool, Vec<String>), String> {
    match (statement.get(key), statement.get(not_key)) {
        (Some(value), None) => Ok((false, resolver.resolve(value)?.into_strings())),
        (None, Some(value)) => Ok((true, resolver.resolve(value)?.into_strings())),
        _ => Err(format!(
            "a statement needs exactly one of {key} and {not_key}"
        )),
    }
}

/// What a task needs: an action, on a resource when the definition names it (`None`: decided at
/// run time from the state's input, so any resource the role grants the action on will do).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub action: String,
    pub resource: Option<String>,
}

impl Need {
    pub fn on(action: &str, resource: impl Into<String>) -> Self {
        Need {
            action: action.into(),
            resource: Some(resource.into()),
        }
    }

    pub fn any(action: &str) -> Self {
        Need {
            action: action.into(),
            resource: None,
        }
    }
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.resource {
            Some(resource) => write!(f, "{} on {resource}", self.action),
            None => write!(f, "{} (on a resource named at run time)", self.action),
        }
    }
}

/// Whether the statements allow the need.
pub fn allows(statements: &[Statement], need: &Need) -> bool {
    let covers = |s: &Statement| {
        let action = need.action.to_ascii_lowercase();
        let listed = s
            .actions
            .iter()
            .any(|a| matches(&a.to_ascii_lowercase(), &action));
        let any_resource = s.resources.iter().any(|r| r == "*");
        let resource = match &need.resource {
            Some(resource) => s.resources.iter().any(|r| matches(r, resource)) != s.not_resource,
            // Named at run time: an Allow on some resource will do; a Deny counts only when it
            // covers every resource.
            None if s.allow => !(s.resources.is_empty() || s.not_resource && any_resource),
            None => !s.not_resource && any_resource,
        };
        listed != s.not_action && resource
    };
    !statements.iter().any(|s| !s.allow && covers(s))
        && statements.iter().any(|s| s.allow && covers(s))
}

/// IAM's wildcard match: `*` any run of characters, `?` exactly one.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn statements(policy: Value) -> Vec<Statement> {
        let template = json!({"Resources": {"Fn": {"Type": "AWS::Lambda::Function"}}});
        let role =
            json!({"Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": policy}]}});
        role_statements(&role, &Resolver::new(&template)).unwrap()
    }

    #[test]
    fn wildcards_match_as_iam_does() {
        assert!(matches(
            "arn:aws:lambda:*:function:Fn*",
            "arn:aws:lambda:r:a:function:Fn"
        ));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*", ""));
        assert!(!matches(
            "arn:aws:lambda:*:function:Fn",
            "arn:aws:lambda:r:function:Other"
        ));
        assert!(matches("stack/dev-*/*", "stack/dev-app/*"));
    }

    #[test]
    fn an_allow_on_the_resource_grants_and_a_deny_wins() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:Fn";
        let allow = statements(json!({"Statement": [{
            "Effect": "Allow", "Action": "Lambda:Invoke*",
            "Resource": {"Fn::Sub": "${Fn.Arn}*"}
        }]}));
        assert!(allows(&allow, &Need::on("lambda:InvokeFunction", arn)));
        assert!(allows(&allow, &Need::any("lambda:InvokeFunction")));
        assert!(!allows(
            &allow,
            &Need::on(
                "lambda:InvokeFunction",
                "arn:aws:lambda:us-east-1:123456789012:function:Other"
            )
        ));
        assert!(!allows(&allow, &Need::any("lambda:GetFunction")));

        let denied = statements(json!({"Statement": [
            {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": arn}
        ]}));
        assert!(!allows(&denied, &Need::on("lambda:InvokeFunction", arn)));
        assert!(allows(&denied, &Need::on("lambda:GetFunction", arn)));
        // A deny on one function does not take away a run-time choice among all of them.
        assert!(allows(&denied, &Need::any("lambda:InvokeFunction")));
    }

    #[test]
    fn not_action_and_not_resource_cover_everything_else() {
        let policy = statements(json!({"Statement": [
            {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:secret"},
        ]}));
        assert!(allows(&policy, &Need::on("sns:Publish", "arn:topic")));
        assert!(!allows(&policy, &Need::on("sns:Publish", "arn:secret")));
        assert!(!allows(&policy, &Need::on("iam:PassRole", "arn:topic")));
    }

    #[test]
    fn unreadable_statements_are_errors_not_grants() {
        let template = json!({"Resources": {}});
        let role = json!({"Properties": {"Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": {"Fn::GetAZs": ""}}
        ]}}]}});
        let error = role_statements(&role, &Resolver::new(&template)).unwrap_err();
        assert!(error.starts_with("p: Fn::GetAZs"), "{error}");
    }
}
