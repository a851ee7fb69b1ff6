//! What the front door knows of a call (who signed it, which service and operation, which
//! protocol), and the answer AWS gives when such a call is throttled or fails.

use super::Kind;

/// Access keys whose calls may be faulted: the functions' (`functions.env`, and each function's own,
/// `stackgate-function-<binary>`, under which it runs as its role) and moto's Step Functions
/// interpreter's (`ak`, or `stackgate-role-<role>` when it acts as a state machine's role).
pub const FAULTED_CALLERS: &[&str] = &["stackgate-function", "ak"];

fn faulted(key: &str) -> bool {
    FAULTED_CALLERS.contains(&key) || named("stackgate-function-", key) || interpreter(key)
}

/// Whether a caller runs under a role of the template (a function's or a state machine's key), whose
/// calls moto evaluates against that role (`scripts/moto_iam.py`).
pub fn runs_as_role(authorization: &str) -> bool {
    signer(authorization).is_some_and(|(key, _)| {
        named("stackgate-function-", &key) || named("stackgate-role-", &key)
    })
}

/// Whether the call comes from moto's Step Functions interpreter.
fn interpreter(key: &str) -> bool {
    key == "ak" || named("stackgate-role-", key)
}

fn named(prefix: &str, key: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(|name| !name.is_empty())
}

/// What the front door knows of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The signing name (`cloudformation`, `states`, `lambda`, …), lower case.
    pub service: String,
    pub operation: String,
    pub protocol: Protocol,
    /// Whether its answer may be lost on the way back (`timeout`): not when Step Functions starts
    /// a nested execution itself, a call that never leaves AWS (a lost answer there, retried after
    /// the child ended, fails with ExecutionAlreadyExists, which AWS's integration does not show).
    pub answer_may_be_lost: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// awsQuery (CloudFormation, SNS, IAM, STS, ELB): XML errors.
    Query,
    /// awsJson 1.0/1.1 (`X-Amz-Target`): `__type` errors.
    Json,
    /// restJson (Lambda, SES v2): `x-amzn-ErrorType`.
    RestJson,
    /// restXml (S3).
    RestXml,
}

/// The access key and service of a SigV4 `Authorization` header.
pub fn signer(authorization: &str) -> Option<(String, String)> {
    let credential = authorization.split("Credential=").nth(1)?;
    let credential = credential.split([',', ' ']).next()?;
    let mut parts = credential.split('/');
    let key = parts.next()?.to_string();
    let service = parts.nth(2)?.to_ascii_lowercase();
    Some((key, service))
}

/// Classifies a call; `None` for calls never faulted (unsigned, a caller not in
/// [`FAULTED_CALLERS`], or a protocol whose error shape is not produced here, such as CBOR).
pub fn classify(
    method: &str,
    authorization: Option<&str>,
    target: Option<&str>,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Option<Call> {
    let (key, service) = signer(authorization?)?;
    if !faulted(&key) {
        return None;
    }
    let (operation, protocol) = if let Some(target) = target {
        let operation = target.rsplit('.').next().unwrap_or(target);
        (operation.to_string(), Protocol::Json)
    } else if service == "s3" {
        (s3_operation(method, path), Protocol::RestXml)
    } else if let Some(action) = form_value(body, "Action")
        .or_else(|| query.and_then(|q| form_value(q.as_bytes(), "Action")))
    {
        (action, Protocol::Query)
    } else if service == "lambda" && path.ends_with("/invocations") {
        ("Invoke".to_string(), Protocol::RestJson)
    } else if service == "lambda" || service == "ses" {
        (format!("{service} {path}"), Protocol::RestJson)
    } else {
        return None;
    };
    // moto's interpreter polls a `.sync` child execution itself; in AWS that polling is Step
    // Functions' own, inside AWS, and no fault of it reaches the workflow.
    if interpreter(&key) && service == "states" && operation == "DescribeExecution" {
        return None;
    }
    let answer_may_be_lost = !(interpreter(&key) && answer_kept_inside_aws(&service, &operation));
    Some(Call {
        service,
        operation,
        protocol,
        answer_may_be_lost,
    })
}

/// Calls a workflow's SDK integration makes whose lost answer is not injected, because the call
/// never leaves AWS and a lost answer would only prove that the workflow fails on purpose:
/// - a nested execution: retried after the child ended, it fails with ExecutionAlreadyExists,
///   which AWS's integration does not show;
/// - `CreateAccount`, which has no idempotency token: account vending does not retry a client
///   error there (a retry could make a second account), so a lost answer fails the vending.
fn answer_kept_inside_aws(service: &str, operation: &str) -> bool {
    matches!(
        (service, operation),
        ("states", "StartExecution") | ("organizations", "CreateAccount")
    )
}

/// S3's operation, as far as the method and the path's shape tell (path-style: `/bucket/key`).
fn s3_operation(method: &str, path: &str) -> String {
    let object = path.trim_start_matches('/').contains('/');
    let operation = match (method, object) {
        ("GET", true) => "GetObject",
        ("PUT", true) => "PutObject",
        ("HEAD", true) => "HeadObject",
        ("DELETE", true) => "DeleteObject",
        ("GET", false) => "ListObjects",
        ("PUT", false) => "CreateBucket",
        ("HEAD", false) => "HeadBucket",
        ("DELETE", false) => "DeleteBucket",
        _ => "Other",
    };
    operation.to_string()
}

fn form_value(form: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(form).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// The error code a service answers a throttled call and a server error with, where it is not its
/// protocol's usual one: callers retry by these names (Step Functions' `Organizations.TooManyRequestsException`).
fn codes(service: &str, protocol: Protocol) -> (&'static str, &'static str) {
    match (service, protocol) {
        ("organizations", _) => ("TooManyRequestsException", "ServiceException"),
        ("dynamodb", _) => ("ThrottlingException", "InternalServerError"),
        ("ssm", _) => ("ThrottlingException", "InternalServerError"),
        ("sns", _) => ("Throttled", "InternalError"),
        ("ec2", _) => ("RequestLimitExceeded", "InternalError"),
        (_, Protocol::Query) => ("Throttling", "InternalFailure"),
        (_, Protocol::Json) => ("ThrottlingException", "InternalFailure"),
        (_, Protocol::RestJson) => ("TooManyRequestsException", "ServiceException"),
        (_, Protocol::RestXml) => ("SlowDown", "InternalError"),
    }
}

/// The answer AWS gives for a throttled call or a server error, in the call's protocol:
/// (status, headers, body).
pub fn error_answer(kind: Kind, call: &Call) -> (u16, Vec<(&'static str, String)>, String) {
    let throttled = kind == Kind::Throttle;
    let (throttle_code, error_code) = codes(&call.service, call.protocol);
    let code = if throttled { throttle_code } else { error_code };
    let request_id = ("x-amzn-requestid", REQUEST_ID.to_string());
    match call.protocol {
        Protocol::Query => {
            let (status, party) = if throttled {
                (400, "Sender")
            } else {
                (500, "Receiver")
            };
            let body = if call.service == "ec2" {
                format!(
                    "<Response><Errors><Error><Code>{code}</Code><Message>{}</Message></Error></Errors><RequestID>{REQUEST_ID}</RequestID></Response>",
                    message(kind)
                )
            } else {
                format!(
                    "<ErrorResponse><Error><Type>{party}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{REQUEST_ID}</RequestId></ErrorResponse>",
                    message(kind)
                )
            };
            (status, vec![("content-type", "text/xml".into())], body)
        }
        Protocol::Json => {
            let status = if throttled { 400 } else { 500 };
            let body = serde_json::json!({"__type": code, "message": message(kind)}).to_string();
            (
                status,
                vec![
                    ("content-type", "application/x-amz-json-1.1".into()),
                    request_id,
                ],
                body,
            )
        }
        Protocol::RestJson => {
            let status = if throttled { 429 } else { 500 };
            let body = serde_json::json!({"Type": "Service", "message": message(kind)}).to_string();
            (
                status,
                vec![
                    ("content-type", "application/json".into()),
                    ("x-amzn-errortype", code.into()),
                    request_id,
                ],
                body,
            )
        }
        Protocol::RestXml => {
            let status = if throttled { 503 } else { 500 };
            let body = format!(
                "<Error><Code>{code}</Code><Message>{}</Message><RequestId>{REQUEST_ID}</RequestId></Error>",
                message(kind)
            );
            (
                status,
                vec![
                    ("content-type", "application/xml".into()),
                    ("x-amz-request-id", REQUEST_ID.into()),
                ],
                body,
            )
        }
    }
}

/// Every AWS answer names its request; callers (moto's interpreter among them) read it.
const REQUEST_ID: &str = "stackgate-injected-fault";

fn message(kind: Kind) -> &'static str {
    match kind {
        Kind::Throttle => "Rate exceeded (injected by the local stack: STACKGATE_FAULTS)",
        _ => "We encountered an internal error (injected by the local stack: STACKGATE_FAULTS)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, operation: &str, protocol: Protocol) -> Call {
        Call {
            answer_may_be_lost: true,
            service: service.into(),
            operation: operation.into(),
            protocol,
        }
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=stackgate-function/20261201/us-east-1/cloudformation/aws4_request, SignedHeaders=host, Signature=x";

    #[test]
    fn calls_are_classified_by_signer_and_protocol_and_the_harness_is_never_faulted() {
        let form = b"Action=DescribeStacks&Version=2010-05-15";
        let query = classify("POST", Some(AUTH), None, "/", None, form).unwrap();
        assert_eq!(
            (query.operation.as_str(), query.protocol),
            ("DescribeStacks", Protocol::Query)
        );
        let states = AUTH.replace("cloudformation", "states");
        let json = classify(
            "POST",
            Some(&states),
            Some("AWSStepFunctions.StartExecution"),
            "/",
            None,
            b"{}",
        )
        .unwrap();
        assert_eq!(
            (json.service.as_str(), json.operation.as_str()),
            ("states", "StartExecution")
        );
        let lambda = AUTH
            .replace("stackgate-function", "ak")
            .replace("cloudformation", "lambda");
        let invoke = classify(
            "POST",
            Some(&lambda),
            None,
            "/2015-03-31/functions/f/invocations",
            None,
            b"{}",
        )
        .unwrap();
        assert_eq!(
            (invoke.operation.as_str(), invoke.protocol),
            ("Invoke", Protocol::RestJson)
        );
        let s3 = AUTH.replace("cloudformation", "s3");
        let object = classify("GET", Some(&s3), None, "/b/k", None, b"").unwrap();
        assert_eq!(
            (object.operation.as_str(), object.protocol),
            ("GetObject", Protocol::RestXml)
        );
        let polling = states.replace("stackgate-function", "ak");
        assert_eq!(
            classify(
                "POST",
                Some(&polling),
                Some("AWSStepFunctions.DescribeExecution"),
                "/",
                None,
                b"{}"
            ),
            None
        );
        let harness = AUTH.replace("stackgate-function", "test");
        assert_eq!(
            classify("POST", Some(&harness), None, "/", None, form),
            None
        );
        // A function under its own role is faulted like the others; a look-alike key is not.
        let own = AUTH.replace("stackgate-function", "stackgate-function-wait-stack");
        assert!(classify("POST", Some(&own), None, "/", None, form).is_some());
        let bare = AUTH.replace("stackgate-function", "stackgate-function-");
        assert_eq!(classify("POST", Some(&bare), None, "/", None, form), None);
        // A state machine acting as its role is the interpreter: faulted, its polling exempt.
        let role = AUTH.replace(
            "stackgate-function",
            "stackgate-role-SafeDeployStateMachineRole",
        );
        assert!(classify("POST", Some(&role), None, "/", None, form).is_some());
        let role_polling = states.replace(
            "stackgate-function",
            "stackgate-role-SafeDeployStateMachineRole",
        );
        let target = Some("AWSStepFunctions.DescribeExecution");
        assert_eq!(
            classify("POST", Some(&role_polling), target, "/", None, b"{}"),
            None
        );
        // The nested execution it starts may be throttled or refused, but its answer is not lost.
        let nested = Some("AWSStepFunctions.StartExecution");
        let started = classify("POST", Some(&role_polling), nested, "/", None, b"{}").unwrap();
        assert!(!started.answer_may_be_lost);
        let function = classify("POST", Some(&states), nested, "/", None, b"{}").unwrap();
        assert!(function.answer_may_be_lost);
        // Nor is CreateAccount's, which account vending deliberately does not retry.
        let organizations = role_polling.replace("/states/", "/organizations/");
        let create = Some("AWSOrganizationsV20161128.CreateAccount");
        let vended = classify("POST", Some(&organizations), create, "/", None, b"{}").unwrap();
        assert!(!vended.answer_may_be_lost);
        let described = Some("AWSOrganizationsV20161128.DescribeCreateAccountStatus");
        let status = classify("POST", Some(&organizations), described, "/", None, b"{}").unwrap();
        assert!(status.answer_may_be_lost);
        assert_eq!(classify("POST", None, None, "/", None, form), None);
        let monitoring = AUTH.replace("cloudformation", "monitoring");
        assert_eq!(
            classify(
                "POST",
                Some(&monitoring),
                None,
                "/service/GraniteServiceVersion20100801/operation/PutMetricData",
                None,
                b"\xa0"
            ),
            None
        );
    }

    #[test]
    fn errors_take_each_protocols_shape() {
        let (status, headers, body) = error_answer(
            Kind::Throttle,
            &call("cloudformation", "X", Protocol::Query),
        );
        assert_eq!(status, 400);
        assert!(body.contains("<Code>Throttling</Code>"), "{body}");
        assert_eq!(headers[0].1, "text/xml");
        let (status, _, body) =
            error_answer(Kind::ServerError, &call("states", "X", Protocol::Json));
        assert_eq!(status, 500);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["__type"],
            "InternalFailure"
        );
        let (status, headers, _) = error_answer(
            Kind::Throttle,
            &call("lambda", "Invoke", Protocol::RestJson),
        );
        assert_eq!(status, 429);
        assert!(headers.contains(&("x-amzn-errortype", "TooManyRequestsException".into())));
        let (status, _, body) =
            error_answer(Kind::Throttle, &call("s3", "s3 /b", Protocol::RestXml));
        assert_eq!(status, 503);
        assert!(body.contains("SlowDown"));
    }
}
