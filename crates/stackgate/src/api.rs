//! The self-service HTTP API as pure functions: routing, body and field validation, the managed-name
//! and template-bucket rules, and errors as RFC 9457 problem documents.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::guardrails::Guardrails;
use crate::request::{parse_deployment, validate_stack_name, Deployment, TemplateSource};
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
            TaskError::InvalidTemplate(message) => Problem::invalid("template", message),
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
    /// The operator's rules, the same the plan step applies to every request.
    pub guardrails: Guardrails,
    pub max_body_bytes: usize,
}

pub use crate::guardrails::split_list;

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
            "send the body as application/json",
        )
        .with_field("Content-Type"));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Problem::invalid("$", "the body must be a JSON object")),
        Err(e) => Err(Problem::invalid(
            "$",
            format!("the body {}", crate::error::describe_json_error(&e)),
        )),
    }
}

/// The managed environment of a full stack name; other names do not exist as far as the API is
/// concerned (404, as for a stack stackgate did not make).
pub fn managed_stack<'a>(name: &str, config: &'a ApiConfig) -> Result<&'a str, Problem> {
    validate_stack_name("stackName", name)
        .ok()
        .and_then(|()| config.guardrails.environment_of(name))
        .ok_or_else(|| Problem::not_found("no managed stack of that name"))
}

const CREATE_FIELDS: [&str; 12] = [
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
    "secretParameters",
];

/// Validates `POST /stacks` and returns the workflow input (with who asked) and the deployment it
/// describes. The plan step applies the same guardrails again, whoever starts the workflow.
pub fn create_request(
    body: Map<String, Value>,
    config: &ApiConfig,
    execution_name: &str,
    requested_by: &str,
) -> Result<(Value, Deployment), Problem> {
    if let Some(unknown) = body.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
        return Err(Problem::invalid(
            crate::request::key_name(unknown),
            format!("unknown field; accepted: {}", CREATE_FIELDS.join(", ")),
        ));
    }
    let mut input = Value::Object(body);
    input["requestedBy"] = json!(requested_by);
    let deployment = parse_deployment(&input, execution_name).map_err(Problem::from)?;
    if matches!(deployment.source, TemplateSource::Revision { .. }) {
        return Err(Problem::invalid(
            "templateUrl",
            "give templateUrl or templateS3Bucket+templateS3Key",
        ));
    }
    config
        .guardrails
        .authorize(&deployment)
        .map_err(Problem::from)?;
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

/// The `stackname` of a seed-003 body.
pub fn legacy_name(body: &Map<String, Value>) -> Result<String, Problem> {
    match body.get("stackname") {
        Some(Value::String(name)) if !name.trim().is_empty() => Ok(name.trim().to_string()),
        Some(_) => Err(Problem::invalid("stackname", "must be a non-empty string")),
        None => Err(Problem::invalid("stackname", "is required")),
    }
}

/// The `Idempotency-Key` header: absent, or 1 to 255 visible ASCII characters (a key that cannot be
/// read is refused, never ignored: ignoring it would start a second execution on a replay).
pub fn idempotency_key(raw: Option<&[u8]>) -> Result<Option<&str>, Problem> {
    const FIELD: &str = "Idempotency-Key";
    let Some(raw) = raw else {
        return Ok(None);
    };
    let key = std::str::from_utf8(raw)
        .ok()
        .map(str::trim)
        .filter(|k| {
            !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        })
        .ok_or_else(|| Problem::invalid(FIELD, "must be 1 to 255 visible ASCII characters"))?;
    Ok(Some(key))
}

/// The workflows the API starts; an execution id begins with its workflow's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workflow {
    Deploy,
    Delete,
    Vend,
}

impl Workflow {
    pub const ALL: [Workflow; 3] = [Workflow::Deploy, Workflow::Delete, Workflow::Vend];

    pub fn name(self) -> &'static str {
        match self {
            Workflow::Deploy => "deploy",
            Workflow::Delete => "delete",
            Workflow::Vend => "vend",
        }
    }
}

/// Execution names for API requests: from the caller and the `Idempotency-Key` (so a replay by the
/// same caller finds the same execution, and two callers' keys never meet), or from the request id.
/// Prefixed by workflow so an id names its state machine. Reading an execution also checks the
/// caller (`may_read_execution`), so a guessed name is worth nothing to anyone else.
pub fn execution_name(
    workflow: Workflow,
    idempotency_key: Option<&str>,
    request_id: &str,
    caller: &str,
) -> String {
    use sha2::{Digest, Sha256};
    let hash = |parts: &[&str]| -> String {
        let mut digest = Sha256::new();
        for part in parts {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part.as_bytes());
        }
        digest
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    match idempotency_key {
        Some(key) => format!("{}-k{}", workflow.name(), hash(&[caller, key])),
        None => format!("{}-r{}", workflow.name(), hash(&[request_id])),
    }
}

/// Whether `caller` may read an execution started with `input`: only the caller who asked for it.
pub fn may_read_execution(input: Option<&str>, caller: &str) -> bool {
    input
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .and_then(|input| {
            input
                .get("requestedBy")
                .and_then(Value::as_str)
                .map(|who| who == caller)
        })
        .unwrap_or(false)
}

/// The workflow an execution id belongs to, from its prefix.
pub fn execution_workflow(id: &str) -> Option<Workflow> {
    let valid = id.len() <= 80
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return None;
    }
    Workflow::ALL.into_iter().find(|workflow| {
        id.strip_prefix(workflow.name())
            .is_some_and(|rest| rest.starts_with('-'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ApiConfig {
        ApiConfig {
            guardrails: Guardrails::new(
                vec!["dev".into(), "prod".into(), "euprod".into()],
                vec!["templates".into()],
                None,
                vec!["localhost:4566".into()],
                vec![],
            )
            .unwrap(),
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
        assert_eq!(managed_stack("prod-app", &c), Ok("prod"));
        assert_eq!(managed_stack("euprod-app", &c), Ok("euprod"));
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

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn create_requests_are_validated_field_by_field() {
        let c = config();
        let good = body(
            json!({"environmentName":"dev","stackName":"app","templateUrl":"https://templates.s3.amazonaws.com/a.yaml"}),
        );
        let (input, deployment) = create_request(good, &c, "deploy-x", "apikey:abc").unwrap();
        assert_eq!(deployment.stack_name, "dev-app");
        assert_eq!(input["requestedBy"], "apikey:abc");
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
            (
                json!({"environmentName":"dev","stackName":"app","templateUrl":"https://templates.s3.amazonaws.com/a.yaml","requestedBy":"CTO"}),
                "requestedBy",
            ),
            (
                json!({"environmentName":"dev","stackName":"app","templateUrl":"https://templates.s3.amazonaws.com/a.yaml","capabilities":["CAPABILITY_IAM"]}),
                "capabilities",
            ),
        ];
        for (input, field) in cases {
            let problem =
                create_request(body(input.clone()), &c, "deploy-x", "apikey:abc").unwrap_err();
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
        let a = execution_name(Workflow::Deploy, Some("order-42"), "req-1", "apikey:a");
        assert_eq!(
            a,
            execution_name(Workflow::Deploy, Some("order-42"), "req-2", "apikey:a"),
            "the caller and the key decide"
        );
        assert_ne!(
            a,
            execution_name(Workflow::Deploy, Some("order-43"), "req-1", "apikey:a")
        );
        assert_ne!(
            a,
            execution_name(Workflow::Deploy, Some("order-42"), "req-1", "apikey:b"),
            "another caller's same key is another execution"
        );
        assert_ne!(
            execution_name(Workflow::Deploy, None, "req-1", "c"),
            execution_name(Workflow::Deploy, None, "req-2", "c")
        );
        assert_eq!(execution_workflow(&a), Some(Workflow::Deploy));
        assert_eq!(execution_workflow("delete-k12"), Some(Workflow::Delete));
        assert_eq!(execution_workflow("vend-r12"), Some(Workflow::Vend));
        assert_eq!(execution_workflow("vendor-1"), None);
        assert_eq!(execution_workflow("other-1"), None);
        assert_eq!(execution_workflow("deploy-../../x"), None);
    }

    #[test]
    fn idempotency_keys_are_read_or_refused_never_ignored() {
        assert_eq!(idempotency_key(None), Ok(None));
        assert_eq!(idempotency_key(Some(b" order-42 ")), Ok(Some("order-42")));
        let long = "x".repeat(256);
        for bad in [
            "clé-42".as_bytes(),
            b"",
            b"   ",
            b"a\tb",
            &[0xff, 0x41],
            long.as_bytes(),
        ] {
            let problem = idempotency_key(Some(bad)).unwrap_err();
            assert_eq!(
                (problem.status, problem.field.as_deref()),
                (400, Some("Idempotency-Key"))
            );
        }
    }

    #[test]
    fn only_the_caller_who_asked_reads_an_execution() {
        let input = r#"{"stackName":"x","requestedBy":"apikey:a"}"#;
        assert!(may_read_execution(Some(input), "apikey:a"));
        assert!(!may_read_execution(Some(input), "apikey:b"));
        assert!(!may_read_execution(
            Some(r#"{"stackName":"x"}"#),
            "apikey:a"
        ));
        assert!(!may_read_execution(None, "apikey:a"));
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
