//! `POST /accounts`: account and VPC vending requests.

use serde_json::{json, Map, Value};

use super::{ApiConfig, Problem};
use crate::request::validate_stack_name;

const ACCOUNT_FIELDS: [&str; 5] = [
    "accountName",
    "email",
    "environmentName",
    "networkCidr",
    "approvalTimeoutSeconds",
];

fn text_field<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a str, Problem> {
    match body.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim()),
        Some(_) => Err(Problem::invalid(field, "must be a non-empty string")),
        None => Err(Problem::invalid(field, "is required")),
    }
}

/// Whether `cidr` is an IPv4 block from /16 to /28 (the sizes a VPC can have).
pub fn valid_vpc_cidr(cidr: &str) -> bool {
    let Some((address, bits)) = cidr.split_once('/') else {
        return false;
    };
    address.parse::<std::net::Ipv4Addr>().is_ok()
        && bits.parse::<u8>().is_ok_and(|b| (16..=28).contains(&b))
}

/// Validates `POST /accounts` and returns the account-vending workflow input.
pub fn account_request(
    body: Map<String, Value>,
    config: &ApiConfig,
    requested_by: &str,
) -> Result<Value, Problem> {
    if let Some(unknown) = body.keys().find(|k| !ACCOUNT_FIELDS.contains(&k.as_str())) {
        return Err(Problem::invalid(
            crate::request::key_name(unknown),
            format!("unknown field; accepted: {}", ACCOUNT_FIELDS.join(", ")),
        ));
    }
    let name = text_field(&body, "accountName")?;
    let name_ok = name.len() <= 50
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._-".contains(c));
    if !name_ok {
        return Err(Problem::invalid(
            "accountName",
            "1 to 50 letters, digits, spaces, '.', '_' or '-'",
        ));
    }
    let email = text_field(&body, "email")?;
    let email_ok = email.len() <= 64
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'));
    if !email_ok {
        return Err(Problem::invalid(
            "email",
            "must be an email address of at most 64 characters",
        ));
    }
    let environment = text_field(&body, "environmentName")?;
    if !config.guardrails.manages(environment) {
        return Err(Problem::invalid(
            "environmentName",
            format!(
                "is not an environment this API manages ({})",
                config.guardrails.environments.join(", ")
            ),
        ));
    }
    let cidr = text_field(&body, "networkCidr")?;
    if !valid_vpc_cidr(cidr) {
        return Err(Problem::invalid(
            "networkCidr",
            "must be an IPv4 CIDR block from /16 to /28",
        ));
    }
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let network_stack = format!("network-{}", slug.trim_matches('-'));
    validate_stack_name("accountName", &format!("{environment}-{network_stack}"))
        .map_err(Problem::from)?;
    let mut input = json!({
        "accountName": name, "email": email, "environmentName": environment, "networkCidr": cidr,
        "networkStackName": network_stack, "requestedBy": requested_by,
    });
    match body.get("approvalTimeoutSeconds") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64().is_some_and(|s| (60..=604_800).contains(&s)) => {
            input["approvalTimeoutSeconds"] = json!(n);
        }
        Some(_) => {
            return Err(Problem::invalid(
                "approvalTimeoutSeconds",
                "must be 60 to 604800 seconds",
            ))
        }
    }
    Ok(input)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::{body, config};
    use crate::api::{route, Endpoint};

    #[test]
    fn account_requests_are_validated() {
        let c = config();
        let good = body(
            json!({"accountName": "Payments Team", "email": "aws+payments@example.com", "environmentName": "prod", "networkCidr": "10.20.0.0/16"}),
        );
        let input = account_request(good, &c, "api").unwrap();
        assert_eq!(input["networkStackName"], "network-payments-team");
        let cases = [
            (
                json!({"email": "a@b.c", "environmentName": "prod", "networkCidr": "10.0.0.0/16"}),
                "accountName",
            ),
            (
                json!({"accountName": "x/y", "email": "a@b.c", "environmentName": "prod", "networkCidr": "10.0.0.0/16"}),
                "accountName",
            ),
            (
                json!({"accountName": "x", "email": "not-an-email", "environmentName": "prod", "networkCidr": "10.0.0.0/16"}),
                "email",
            ),
            (
                json!({"accountName": "x", "email": "a@b.c", "environmentName": "qa", "networkCidr": "10.0.0.0/16"}),
                "environmentName",
            ),
            (
                json!({"accountName": "x", "email": "a@b.c", "environmentName": "prod", "networkCidr": "10.0.0.0/8"}),
                "networkCidr",
            ),
            (
                json!({"accountName": "x", "email": "a@b.c", "environmentName": "prod", "networkCidr": "300.0.0.0/16"}),
                "networkCidr",
            ),
            (
                json!({"accountName": "x", "email": "a@b.c", "environmentName": "prod", "networkCidr": "10.0.0.0/16", "approvalTimeoutSeconds": 1}),
                "approvalTimeoutSeconds",
            ),
            (
                json!({"accountName": "x", "email": "a@b.c", "environmentName": "prod", "networkCidr": "10.0.0.0/16", "owner": "me"}),
                "owner",
            ),
        ];
        for (input, field) in cases {
            let problem = account_request(body(input.clone()), &c, "api").unwrap_err();
            assert_eq!(problem.field.as_deref(), Some(field), "{input}");
        }
        assert_eq!(route("POST", "/accounts"), Ok(Endpoint::CreateAccount));
        assert_eq!(route("GET", "/accounts").unwrap_err().status, 405);
    }
}
