//! The self-service HTTP API as pure functions: routing, body and field validation, the managed-name
//! and template-bucket rules, and errors as RFC 9457 problem documents.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::request::{parse_deployment, validate_stack_name, Deployment};
use crate::TaskError;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An HTTP error as `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type", serialize_with = "problem_type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For 405: the methods the path accepts (sent as the `Allow` header too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<&'static str>,
}

fn problem_type<S: serde::Serializer>(
    kind: &&'static str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format!("urn:stackgate:problem:{kind}"))
}

impl Problem {
    pub fn new(
        status: u16,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            kind,
            title,
            status,
            detail: detail.into(),
            field: None,
            allow: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem::new(400, "invalid-request", "The request is not valid", detail).with_field(field)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(404, "not-found", "Not found", detail)
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Problem::new(
            409,
            "conflict",
            "The stack cannot take this request now",
            detail,
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Problem::new(
            503,
            "unavailable",
            "The request was not accepted; try again",
            detail,
        )
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Problem::new(500, "internal", "Internal error", detail)
    }
}

impl From<TaskError> for Problem {
    fn from(error: TaskError) -> Self {
        match error {
            TaskError::InvalidInput { field, message } => Problem::invalid(field, message),
            TaskError::AwsTransient { .. } => Problem::unavailable(error.to_string()),
            other => Problem::internal(other.to_string()),
        }
    }
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    CreateStack,
    GetStack(String),
    DeleteStack(String),
    GetExecution(String),
    /// Seed 003: `POST /create {"stackname","templateurl"}`.
    LegacyCreate,
    /// Seed 003: `GET /state/{stackname}`.
    LegacyState(String),
    /// Seed 003: `POST /delete {"stackname"}`.
    LegacyDelete,
    /// Seed 000: `POST /accounts`, account and VPC vending.
    CreateAccount,
}

fn segment(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// Maps a method and path (without stage) to an endpoint: unknown paths are 404, known paths with
/// another method 405 (naming the allowed ones).
pub fn route(method: &str, path: &str) -> Result<Endpoint, Problem> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (allowed, endpoint): (&str, Option<Endpoint>) = match parts.as_slice() {
        ["stacks"] => ("POST", (method == "POST").then_some(Endpoint::CreateStack)),
        ["stacks", name] if !name.is_empty() => (
            "GET, DELETE",
            match method {
                "GET" => Some(Endpoint::GetStack(segment(name))),
                "DELETE" => Some(Endpoint::DeleteStack(segment(name))),
                _ => None,
            },
        ),
        ["executions", id] if !id.is_empty() => (
            "GET",
            (method == "GET").then(|| Endpoint::GetExecution(segment(id))),
        ),
        ["create"] => ("POST", (method == "POST").then_some(Endpoint::LegacyCreate)),
        ["state", name] if !name.is_empty() => (
            "GET",
            (method == "GET").then(|| Endpoint::LegacyState(segment(name))),
        ),
        ["delete"] => ("POST", (method == "POST").then_some(Endpoint::LegacyDelete)),
        ["accounts"] => (
            "POST",
            (method == "POST").then_some(Endpoint::CreateAccount),
        ),
        _ => return Err(Problem::not_found(format!("no route for {path}"))),
    };
    endpoint.ok_or_else(|| {
        let mut problem = Problem::new(
            405,
            "method-not-allowed",
            "Method not allowed",
            format!("{method} is not allowed on {path}; use {allowed}"),
        );
        problem.allow = Some(allowed);
        problem
    })
}

/// The API's configuration, from the function's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Environments whose stacks (`<environment>-...`) the API may touch.
    pub managed_environments: Vec<String>,
    /// Buckets templates may come from.
    pub allowed_template_buckets: Vec<String>,
    /// Hosts of path-style S3 URLs other than AWS's (the local stack's S3 endpoint).
    pub path_style_hosts: Vec<String>,
    pub max_body_bytes: usize,
}

pub fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks the body's size and content type and parses it as a JSON object.
pub fn parse_body(
    content_type: Option<&str>,
    body: &[u8],
    config: &ApiConfig,
) -> Result<Map<String, Value>, Problem> {
    if body.len() > config.max_body_bytes {
        return Err(Problem::new(
            413,
            "payload-too-large",
            "The request body is too large",
            format!(
                "the body is {} bytes; at most {} are accepted",
                body.len(),
                config.max_body_bytes
            ),
        ));
    }
    let media = content_type
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    if media != "application/json" {
        return Err(Problem::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            format!(
                "send the body as application/json (got {:?})",
                content_type.unwrap_or("none")
            ),
        )
        .with_field("Content-Type"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Problem::invalid("$", "the body must be a JSON object")),
        Err(e) => Err(Problem::invalid(
            "$",
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

/// Whether a full stack name is under a managed environment; others do not exist as far as the
/// API is concerned.
pub fn managed_stack(name: &str, config: &ApiConfig) -> Result<(), Problem> {
    let managed = validate_stack_name("stackName", name).is_ok()
        && config.managed_environments.iter().any(|env| {
            name.len() > env.len() + 1
                && name.starts_with(env.as_str())
                && name.as_bytes()[env.len()] == b'-'
        });
    if managed {
        Ok(())
    } else {
        Err(Problem::not_found(format!(
            "no managed stack named {name:?}"
        )))
    }
}

/// The bucket an S3 template URL points into, if it is an S3 URL at all.
pub fn template_url_bucket(url: &str, config: &ApiConfig) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    let host = host.to_ascii_lowercase();
    let path_bucket = || {
        path.split('/')
            .next()
            .filter(|b| !b.is_empty())
            .map(str::to_string)
    };
    if config
        .path_style_hosts
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&host))
    {
        return path_bucket();
    }
    if !url.starts_with("https://") {
        return None;
    }
    let host = host.strip_suffix(".amazonaws.com")?;
    // Path style: s3.amazonaws.com/bucket, s3.<region>.amazonaws.com/bucket, s3-<region>...
    if host == "s3" || host.starts_with("s3.") || host.starts_with("s3-") {
        return path_bucket();
    }
    // Virtual-hosted style: <bucket>.s3.amazonaws.com, <bucket>.s3.<region>.amazonaws.com
    let (bucket, service) = host.split_once(".s3")?;
    (service.is_empty() || service.starts_with('.') || service.starts_with('-'))
        .then(|| bucket.to_string())
}

const CREATE_FIELDS: [&str; 11] = [
    "stackName",
    "environmentName",
    "templateUrl",
    "templateS3Bucket",
    "templateS3Key",
    "parameters",
    "tags",
    "capabilities",
    "onUnsafe",
    "blueGreenSuffix",
    "approvalTimeoutSeconds",
];

/// Validates `POST /stacks` and returns the workflow input and the deployment it describes.
pub fn create_request(
    body: Map<String, Value>,
    config: &ApiConfig,
    execution_name: &str,
) -> Result<(Value, Deployment), Problem> {
    if let Some(unknown) = body.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
        return Err(Problem::invalid(
            crate::request::key_name(unknown),
            format!("unknown field; accepted: {}", CREATE_FIELDS.join(", ")),
        ));
    }
    let input = Value::Object(body);
    let deployment = parse_deployment(&input, execution_name).map_err(Problem::from)?;
    if !config
        .managed_environments
        .iter()
        .any(|e| e == &deployment.environment_name)
    {
        return Err(Problem::invalid(
            "environmentName",
            format!(
                "{:?} is not an environment this API manages ({})",
                deployment.environment_name,
                config.managed_environments.join(", ")
            ),
        ));
    }
    let (field, bucket) = match &deployment.source {
        crate::request::TemplateSource::Url { url } => (
            "templateUrl",
            template_url_bucket(url, config).ok_or_else(|| {
                Problem::invalid("templateUrl", "must be an https URL of an object in S3")
            })?,
        ),
        crate::request::TemplateSource::S3Object { bucket, .. } => {
            ("templateS3Bucket", bucket.clone())
        }
        crate::request::TemplateSource::Revision { .. } => {
            return Err(Problem::invalid(
                "templateUrl",
                "give templateUrl or templateS3Bucket+templateS3Key",
            ))
        }
    };
    if !config.allowed_template_buckets.iter().any(|b| b == &bucket) {
        return Err(Problem::invalid(
            field,
            format!(
                "templates are only read from the allowed buckets; {bucket:?} is not one of them"
            ),
        ));
    }
    Ok((input, deployment))
}

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
    if !config.managed_environments.iter().any(|e| e == environment) {
        return Err(Problem::invalid(
            "environmentName",
            format!("{environment:?} is not an environment this API manages"),
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

/// Seed 003's `POST /create {"stackname","templateurl"}` as a `POST /stacks` body: the stack name
/// is the full name, `<environment>-<name>`.
pub fn legacy_create_body(
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
    let name = legacy_name(&body)?;
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
    let environment = config
        .managed_environments
        .iter()
        .filter(|env| name.starts_with(&format!("{env}-")))
        .max_by_key(|env| env.len())
        .ok_or_else(|| {
            Problem::invalid(
                "stackname",
                format!(
                    "must start with a managed environment and a hyphen ({})",
                    config.managed_environments.join(", ")
                ),
            )
        })?;
    let mut converted = Map::new();
    converted.insert("environmentName".into(), json!(environment));
    converted.insert("stackName".into(), json!(&name[environment.len() + 1..]));
    converted.insert("templateUrl".into(), json!(url));
    Ok(converted)
}

/// The `stackname` of a seed-003 body.
pub fn legacy_name(body: &Map<String, Value>) -> Result<String, Problem> {
    match body.get("stackname") {
        Some(Value::String(name)) if !name.trim().is_empty() => Ok(name.trim().to_string()),
        Some(_) => Err(Problem::invalid("stackname", "must be a non-empty string")),
        None => Err(Problem::invalid("stackname", "is required")),
    }
}

/// Execution names for API requests: from the `Idempotency-Key` (so a replay finds the same
/// execution) or from the request id. Prefixed by workflow so an id names its state machine.
pub fn execution_name(
    kind: &str,
    idempotency_key: Option<&str>,
    request_id: &str,
) -> Result<String, Problem> {
    use sha2::{Digest, Sha256};
    let hash = |text: &str| -> String {
        Sha256::digest(text.as_bytes())
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    match idempotency_key {
        Some(key) => {
            let key = key.trim();
            if key.is_empty() || key.len() > 255 || key.chars().any(|c| c.is_control()) {
                return Err(Problem::invalid(
                    "Idempotency-Key",
                    "must be 1 to 255 printable characters",
                ));
            }
            Ok(format!("{kind}-k{}", hash(key)))
        }
        None => Ok(format!("{kind}-r{}", hash(request_id))),
    }
}

/// The workflow an execution id belongs to, from its prefix.
pub fn execution_kind(id: &str) -> Option<&'static str> {
    let valid = id.len() <= 80
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return None;
    }
    ["deploy", "delete", "vend"].into_iter().find(|kind| {
        id.strip_prefix(kind)
            .is_some_and(|rest| rest.starts_with('-'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ApiConfig {
        ApiConfig {
            managed_environments: vec!["dev".into(), "prod".into(), "prod-eu".into()],
            allowed_template_buckets: vec!["templates".into()],
            path_style_hosts: vec!["localhost:4566".into()],
            max_body_bytes: 1024,
        }
    }

    #[test]
    fn routes_and_method_errors() {
        assert_eq!(route("POST", "/stacks"), Ok(Endpoint::CreateStack));
        assert_eq!(route("POST", "/stacks/"), Ok(Endpoint::CreateStack));
        assert_eq!(
            route("GET", "/stacks/prod-app"),
            Ok(Endpoint::GetStack("prod-app".into()))
        );
        assert_eq!(
            route("DELETE", "/stacks/prod-app"),
            Ok(Endpoint::DeleteStack("prod-app".into()))
        );
        assert_eq!(
            route("GET", "/executions/deploy-x"),
            Ok(Endpoint::GetExecution("deploy-x".into()))
        );
        assert_eq!(route("POST", "/create"), Ok(Endpoint::LegacyCreate));
        assert_eq!(
            route("GET", "/state/prod-app"),
            Ok(Endpoint::LegacyState("prod-app".into()))
        );
        assert_eq!(route("POST", "/delete"), Ok(Endpoint::LegacyDelete));
        assert_eq!(
            route("GET", "/stacks/a%2Db"),
            Ok(Endpoint::GetStack("a-b".into()))
        );
        for (method, path) in [
            ("GET", "/stacks"),
            ("PUT", "/stacks/x"),
            ("POST", "/executions/x"),
            ("GET", "/create"),
            ("DELETE", "/delete"),
        ] {
            let problem = route(method, path).unwrap_err();
            assert_eq!(problem.status, 405, "{method} {path}");
            assert!(problem.allow.is_some());
        }
        for path in ["/", "/nope", "/stacks/a/b", "/executions", "/state"] {
            assert_eq!(route("GET", path).unwrap_err().status, 404, "{path}");
        }
    }

    #[test]
    fn bodies_are_checked_for_size_type_and_json() {
        let c = config();
        assert_eq!(
            parse_body(Some("application/json"), &vec![b' '; 2000], &c)
                .unwrap_err()
                .status,
            413
        );
        assert_eq!(
            parse_body(Some("text/plain"), b"{}", &c)
                .unwrap_err()
                .status,
            415
        );
        assert_eq!(parse_body(None, b"{}", &c).unwrap_err().status, 415);
        assert!(parse_body(Some("application/json; charset=utf-8"), b"{}", &c).is_ok());
        assert_eq!(
            parse_body(Some("application/json"), b"{", &c)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse_body(Some("application/json"), b"[]", &c)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn only_managed_stacks_exist_for_the_api() {
        let c = config();
        assert!(managed_stack("prod-app", &c).is_ok());
        assert!(managed_stack("prod-eu-app", &c).is_ok());
        for name in [
            "production-app",
            "prod",
            "prod-",
            "other-app",
            "",
            "prod_app",
        ] {
            assert_eq!(managed_stack(name, &c).unwrap_err().status, 404, "{name}");
        }
    }

    #[test]
    fn template_urls_resolve_to_buckets() {
        let c = config();
        let cases = [
            (
                "https://templates.s3.amazonaws.com/app.yaml",
                Some("templates"),
            ),
            (
                "https://templates.s3.eu-west-1.amazonaws.com/a/b.yaml",
                Some("templates"),
            ),
            (
                "https://templates.s3-eu-west-1.amazonaws.com/a.yaml",
                Some("templates"),
            ),
            (
                "https://s3.amazonaws.com/templates/app.yaml",
                Some("templates"),
            ),
            (
                "https://s3.eu-west-1.amazonaws.com/templates/app.yaml",
                Some("templates"),
            ),
            (
                "http://localhost:4566/templates/app.yaml",
                Some("templates"),
            ),
            ("http://templates.s3.amazonaws.com/app.yaml", None),
            ("https://evil.example.com/templates/app.yaml", None),
            ("https://templates.s3.amazonaws.com.evil.com/app.yaml", None),
            ("ftp://templates/app.yaml", None),
        ];
        for (url, bucket) in cases {
            assert_eq!(template_url_bucket(url, &c).as_deref(), bucket, "{url}");
        }
    }

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn create_requests_are_validated_field_by_field() {
        let c = config();
        let good = body(
            json!({"environmentName":"dev","stackName":"app","templateUrl":"https://templates.s3.amazonaws.com/a.yaml"}),
        );
        let (input, deployment) = create_request(good, &c, "deploy-x").unwrap();
        assert_eq!(deployment.stack_name, "dev-app");
        assert_eq!(
            input["templateUrl"],
            "https://templates.s3.amazonaws.com/a.yaml"
        );
        let cases = [
            (
                json!({"environmentName":"dev","stackName":"app","templateUrl":"https://other.s3.amazonaws.com/a.yaml"}),
                "templateUrl",
            ),
            (
                json!({"environmentName":"dev","stackName":"app","templateS3Bucket":"other","templateS3Key":"k"}),
                "templateS3Bucket",
            ),
            (
                json!({"environmentName":"qa","stackName":"app","templateUrl":"https://templates.s3.amazonaws.com/a.yaml"}),
                "environmentName",
            ),
            (
                json!({"environmentName":"dev","stackName":"app","templatePath":"t","revisionS3Bucket":"templates","revisionS3Key":"k"}),
                "templatePath",
            ),
            (
                json!({"environmentName":"dev","stackName":"app","templateUrl":"https://example.com/a.yaml"}),
                "templateUrl",
            ),
            (
                json!({"environmentName":"dev","stackName":"a b","templateUrl":"https://templates.s3.amazonaws.com/a.yaml"}),
                "stackName",
            ),
        ];
        for (input, field) in cases {
            let problem = create_request(body(input.clone()), &c, "deploy-x").unwrap_err();
            assert_eq!(
                (problem.status, problem.field.as_deref()),
                (400, Some(field)),
                "{input}"
            );
        }
    }

    #[test]
    fn legacy_bodies_convert_to_the_new_contract() {
        let c = config();
        let converted = legacy_create_body(
            body(json!({"stackname":"prod-eu-app","templateurl":"https://templates.s3.amazonaws.com/a.yaml"})),
            &c,
        )
        .unwrap();
        assert_eq!(converted["environmentName"], "prod-eu");
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
            let problem = legacy_create_body(body(input.clone()), &c).unwrap_err();
            assert_eq!(problem.field.as_deref(), Some(field), "{input}");
        }
    }

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

    #[test]
    fn execution_names_and_kinds() {
        let a = execution_name("deploy", Some("order-42"), "req-1").unwrap();
        assert_eq!(
            a,
            execution_name("deploy", Some("order-42"), "req-2").unwrap(),
            "the key decides"
        );
        assert_ne!(
            a,
            execution_name("deploy", Some("order-43"), "req-1").unwrap()
        );
        assert_ne!(
            execution_name("deploy", None, "req-1").unwrap(),
            execution_name("deploy", None, "req-2").unwrap()
        );
        assert_eq!(
            execution_name("deploy", Some(""), "r")
                .unwrap_err()
                .field
                .as_deref(),
            Some("Idempotency-Key")
        );
        assert_eq!(execution_kind(&a), Some("deploy"));
        assert_eq!(execution_kind("delete-k12"), Some("delete"));
        assert_eq!(execution_kind("vend-r12"), Some("vend"));
        assert_eq!(execution_kind("vendor-1"), None);
        assert_eq!(execution_kind("other-1"), None);
        assert_eq!(execution_kind("deploy-../../x"), None);
    }

    #[test]
    fn problems_serialise_as_problem_json() {
        let p = Problem::invalid("stackName", "bad");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "urn:stackgate:problem:invalid-request");
        assert_eq!(v["status"], 400);
        assert_eq!(v["field"], "stackName");
        assert!(v.get("allow").is_none());
    }
}
