//! AWS faults on request (`STACKGATE_FAULTS`): the front door answers a share of the calls that the
//! functions and the state machines make with a throttle, a server error, or no answer at all (the
//! call reached AWS, the answer was lost), each in the caller's protocol's real error shape, so that
//! retries are proven across whole workflows, not per call site.
//!
//! The spec is a comma-separated list of `[service[.Operation]:]kind=rate` and `seed=N`:
//! `throttle=0.10,5xx=0.05,timeout=0.02,cloudformation.ExecuteChangeSet:timeout=0.5,seed=7`.
//! Kinds: `throttle`, `5xx`, `timeout` (the answer is lost). The most specific rule of each kind
//! applies. Only the callers named in [`FAULTED_CALLERS`] are faulted: the operator's and the tests'
//! own calls (access key `test`) never are, as an outage of the harness would prove nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// Access keys whose calls may be faulted: the functions' (`functions.env`) and moto's Step
/// Functions interpreter's (moto signs its SDK integrations with `ak`).
pub const FAULTED_CALLERS: &[&str] = &["stackgate-function", "ak"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Throttle,
    #[serde(rename = "5xx")]
    ServerError,
    /// The call is carried out and its answer lost (the connection closes).
    Timeout,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Throttle, Kind::ServerError, Kind::Timeout];

    fn parse(name: &str) -> Option<Kind> {
        match name {
            "throttle" => Some(Kind::Throttle),
            "5xx" => Some(Kind::ServerError),
            "timeout" => Some(Kind::Timeout),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Throttle => "throttle",
            Kind::ServerError => "5xx",
            Kind::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    service: Option<String>,
    operation: Option<String>,
    kind: Kind,
    rate: f64,
}

impl Rule {
    /// How specific the rule is for a call, if it applies: 0 any call, 1 a service, 2 an operation.
    fn specificity(&self, call: &Call) -> Option<u8> {
        match (&self.service, &self.operation) {
            (None, _) => Some(0),
            (Some(s), None) if *s == call.service => Some(1),
            (Some(s), Some(o)) if *s == call.service && *o == call.operation => Some(2),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    rules: Vec<Rule>,
    seed: u64,
}

impl Spec {
    /// Parses `STACKGATE_FAULTS`; an error names the item at fault.
    pub fn parse(text: &str) -> Result<Spec, String> {
        let mut spec = Spec {
            rules: Vec::new(),
            seed: 1,
        };
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (scope, setting) = match item.rsplit_once(':') {
                Some((scope, setting)) => (Some(scope), setting),
                None => (None, item),
            };
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| format!("STACKGATE_FAULTS item {item:?}: expected kind=rate"))?;
            if key == "seed" && scope.is_none() {
                spec.seed = value
                    .parse()
                    .map_err(|_| format!("STACKGATE_FAULTS item {item:?}: the seed is a number"))?;
                continue;
            }
            let kind = Kind::parse(key).ok_or_else(|| {
                format!("STACKGATE_FAULTS item {item:?}: the kind is throttle, 5xx or timeout")
            })?;
            let rate: f64 = value
                .parse()
                .ok()
                .filter(|r: &f64| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    format!("STACKGATE_FAULTS item {item:?}: the rate is a number from 0 to 1")
                })?;
            let (service, operation) = match scope {
                None => (None, None),
                Some(scope) => match scope.split_once('.') {
                    Some((s, o)) => (Some(s.to_ascii_lowercase()), Some(o.to_string())),
                    None => (Some(scope.to_ascii_lowercase()), None),
                },
            };
            spec.rules.push(Rule {
                service,
                operation,
                kind,
                rate,
            });
        }
        // Every scope a rule names, and any call: the rates that apply there add up to at most 1.
        let mut scopes = vec![None];
        scopes.extend(spec.rules.iter().map(|r| {
            r.service.as_ref().map(|service| Call {
                service: service.clone(),
                operation: r.operation.clone().unwrap_or_default(),
                protocol: Protocol::Query,
            })
        }));
        for scope in &scopes {
            let total: f64 = Kind::ALL
                .iter()
                .map(|k| spec.rate_of(*k, scope.as_ref()))
                .sum();
            if total > 1.0 {
                return Err(
                    "STACKGATE_FAULTS: the rates that apply to one call add up to more than 1"
                        .into(),
                );
            }
        }
        Ok(spec)
    }

    /// The rate of a kind for a call (`None`: the rule for any call).
    fn rate_of(&self, kind: Kind, call: Option<&Call>) -> f64 {
        self.rules
            .iter()
            .filter(|r| r.kind == kind)
            .filter_map(|r| match call {
                Some(call) => r.specificity(call).map(|s| (s, r.rate)),
                None => r.service.is_none().then_some((0, r.rate)),
            })
            .max_by_key(|(s, _)| *s)
            .map_or(0.0, |(_, rate)| rate)
    }

    /// The fault for a call, given a uniform draw in [0, 1).
    pub fn fault_for(&self, call: &Call, draw: f64) -> Option<Kind> {
        let mut upper = 0.0;
        for kind in Kind::ALL {
            upper += self.rate_of(kind, Some(call));
            if draw < upper {
                return Some(kind);
            }
        }
        None
    }
}

/// What the front door knows of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The signing name (`cloudformation`, `states`, `lambda`, …), lower case.
    pub service: String,
    pub operation: String,
    pub protocol: Protocol,
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
    if !FAULTED_CALLERS.contains(&key.as_str()) {
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
    if key == "ak" && service == "states" && operation == "DescribeExecution" {
        return None;
    }
    Some(Call {
        service,
        operation,
        protocol,
    })
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

/// What was injected so far, for `GET /_local/faults`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// Calls that could be faulted (their caller and protocol qualify).
    pub eligible: u64,
    pub injected: BTreeMap<&'static str, u64>,
    /// `service.Operation` -> kind -> count.
    pub by_operation: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

/// The spec, its seeded random sequence, and the tally.
#[derive(Debug)]
pub struct Injector {
    spec: Spec,
    state: Mutex<(u64, Tally)>,
}

impl Injector {
    pub fn new(spec: Spec) -> Injector {
        let seed = spec.seed;
        Injector {
            spec,
            state: Mutex::new((seed, Tally::default())),
        }
    }

    /// Decides the fault for a call and counts it.
    pub fn decide(&self, call: &Call) -> Option<Kind> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let draw = next_draw(&mut state.0);
        state.1.eligible += 1;
        let fault = self.spec.fault_for(call, draw)?;
        *state.1.injected.entry(fault.name()).or_default() += 1;
        *state
            .1
            .by_operation
            .entry(format!("{}.{}", call.service, call.operation))
            .or_default()
            .entry(fault.name())
            .or_default() += 1;
        Some(fault)
    }

    pub fn tally(&self) -> Tally {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }
}

/// splitmix64: a seeded sequence, so that a run can be repeated.
fn next_draw(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, operation: &str, protocol: Protocol) -> Call {
        Call {
            service: service.into(),
            operation: operation.into(),
            protocol,
        }
    }

    const AUTH: &str = "AWS4-HMAC-SHA256 Credential=stackgate-function/20261201/us-east-1/cloudformation/aws4_request, SignedHeaders=host, Signature=x";

    #[test]
    fn the_spec_takes_kinds_rates_scopes_and_a_seed_and_names_what_it_refuses() {
        let spec = Spec::parse(
            "throttle=0.1, 5xx=0.05,timeout=0.02,cloudformation.ExecuteChangeSet:timeout=0.5,seed=7",
        )
        .unwrap();
        assert_eq!(spec.seed, 7);
        let execute = call("cloudformation", "ExecuteChangeSet", Protocol::Query);
        let other = call("cloudformation", "DescribeStacks", Protocol::Query);
        assert_eq!(spec.rate_of(Kind::Timeout, Some(&execute)), 0.5);
        assert_eq!(spec.rate_of(Kind::Timeout, Some(&other)), 0.02);
        assert_eq!(spec.fault_for(&other, 0.05), Some(Kind::Throttle));
        assert_eq!(spec.fault_for(&other, 0.12), Some(Kind::ServerError));
        assert_eq!(spec.fault_for(&other, 0.16), Some(Kind::Timeout));
        assert_eq!(spec.fault_for(&other, 0.2), None);
        assert_eq!(Spec::parse("").unwrap().fault_for(&other, 0.0), None);
        for bad in [
            "throttle",
            "slow=0.1",
            "throttle=2",
            "throttle=x",
            "seed=x",
            "throttle=0.6,5xx=0.6",
            "throttle=0.5,states.X:timeout=0.9",
        ] {
            let error = Spec::parse(bad).unwrap_err();
            assert!(error.starts_with("STACKGATE_FAULTS"), "{bad}: {error}");
        }
    }

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

    #[test]
    fn a_seed_repeats_its_faults_and_the_tally_counts_them() {
        let spec = Spec::parse("throttle=0.2,5xx=0.1,timeout=0.1,seed=42").unwrap();
        let run = || {
            let injector = Injector::new(spec.clone());
            let c = call("cloudformation", "DescribeStacks", Protocol::Query);
            let faults: Vec<Option<Kind>> = (0..1000).map(|_| injector.decide(&c)).collect();
            (faults, injector.tally())
        };
        let (first, tally) = run();
        assert_eq!(first, run().0);
        assert_eq!(tally.eligible, 1000);
        let throttles = tally.injected["throttle"];
        assert!((150..250).contains(&throttles), "{throttles}");
        assert_eq!(
            tally.by_operation["cloudformation.DescribeStacks"]
                .values()
                .sum::<u64>(),
            tally.injected.values().sum::<u64>()
        );
    }
}
