//! The self-service HTTP API as pure functions: routing, body and field validation, the managed-name
//! and template-bucket rules, and errors as RFC 9457 problem documents.

mod accounts;
mod compat;
mod executions;
pub mod inline;
pub mod plans;
pub mod releases;
pub use executions::*;

pub use accounts::{account_request, valid_vpc_cidr};
pub use compat::{compat_create_body, compat_name};
use serde_json::{json, Map, Value};

use crate::destination::Targets;
use crate::guardrails::Guardrails;
use crate::http::{self, Route};
pub use crate::http::{Problem, PROBLEM_CONTENT_TYPE};
use crate::request::{parse_deployment, validate_stack_name, Deployment};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    CreateStack,
    GetStack(String),
    /// `GET /stacks/{name}/events`: the stack's recent events, oldest first.
    GetStackEvents(String),
    DeleteStack(String),
    GetExecution(String),
    /// `POST /plans`: a change set made and judged, executed only by a later `POST /stacks {planId}`.
    CreatePlan,
    /// `GET /plans/{id}`: the plan's status, verdict and judged changes.
    GetPlan(String),
    /// `POST /releases`: several stacks planned together and executed in waves.
    CreateRelease,
    /// `GET /releases/{id}`: the release's state and each stack's.
    GetRelease(String),
    /// Compat route: `POST /create {"stackname","templateurl"}`.
    CompatCreate,
    /// Compat route: `GET /state/{stackname}`.
    CompatState(String),
    /// Compat route: `POST /delete {"stackname"}`.
    CompatDelete,
    /// `POST /accounts`, account and VPC vending.
    CreateAccount,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    CreateStack,
    GetStack,
    GetStackEvents,
    DeleteStack,
    GetExecution,
    CreatePlan,
    GetPlan,
    CreateRelease,
    GetRelease,
    CompatCreate,
    CompatState,
    CompatDelete,
    CreateAccount,
}

const ROUTES: &[Route<Op>] = &[
    Route {
        method: "POST",
        pattern: "/stacks",
        target: Op::CreateStack,
    },
    Route {
        method: "GET",
        pattern: "/stacks/{name}",
        target: Op::GetStack,
    },
    Route {
        method: "DELETE",
        pattern: "/stacks/{name}",
        target: Op::DeleteStack,
    },
    Route {
        method: "GET",
        pattern: "/stacks/{name}/events",
        target: Op::GetStackEvents,
    },
    Route {
        method: "GET",
        pattern: "/executions/{id}",
        target: Op::GetExecution,
    },
    Route {
        method: "POST",
        pattern: "/plans",
        target: Op::CreatePlan,
    },
    Route {
        method: "GET",
        pattern: "/plans/{id}",
        target: Op::GetPlan,
    },
    Route {
        method: "POST",
        pattern: "/releases",
        target: Op::CreateRelease,
    },
    Route {
        method: "GET",
        pattern: "/releases/{id}",
        target: Op::GetRelease,
    },
    Route {
        method: "POST",
        pattern: "/create",
        target: Op::CompatCreate,
    },
    Route {
        method: "GET",
        pattern: "/state/{name}",
        target: Op::CompatState,
    },
    Route {
        method: "POST",
        pattern: "/delete",
        target: Op::CompatDelete,
    },
    Route {
        method: "POST",
        pattern: "/accounts",
        target: Op::CreateAccount,
    },
];

/// Maps a method and path (without stage) to an endpoint: unknown paths are 404, known paths with
/// another method 405 (naming the allowed ones).
pub fn route(method: &str, path: &str) -> Result<Endpoint, Problem> {
    let (op, mut params) = http::route(ROUTES, method, path)?;
    let param = params.pop().unwrap_or_default();
    Ok(match op {
        Op::CreateStack => Endpoint::CreateStack,
        Op::GetStack => Endpoint::GetStack(param),
        Op::GetStackEvents => Endpoint::GetStackEvents(param),
        Op::DeleteStack => Endpoint::DeleteStack(param),
        Op::GetExecution => Endpoint::GetExecution(param),
        Op::CreatePlan => Endpoint::CreatePlan,
        Op::GetPlan => Endpoint::GetPlan(param),
        Op::CreateRelease => Endpoint::CreateRelease,
        Op::GetRelease => Endpoint::GetRelease(param),
        Op::CompatCreate => Endpoint::CompatCreate,
        Op::CompatState => Endpoint::CompatState(param),
        Op::CompatDelete => Endpoint::CompatDelete,
        Op::CreateAccount => Endpoint::CreateAccount,
    })
}

/// The API's configuration, from the function's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// The operator's rules, the same the plan step applies to every request.
    pub guardrails: Guardrails,
    pub max_body_bytes: usize,
    /// How long a plan may wait to be applied, and its default life (`PLAN_MINUTES`).
    pub plan_seconds: u64,
    /// Where a release's stacks may go besides stackgate's own account and Region.
    pub targets: Targets,
    /// stackgate's own Region: a stack naming it is a stack at home.
    pub home_region: String,
}

/// The managed environment of a full stack name; other names do not exist as far as the API is
/// concerned (404, as for a stack stackgate did not make).
pub fn managed_stack<'a>(name: &str, config: &'a ApiConfig) -> Result<&'a str, Problem> {
    validate_stack_name("stackName", name)
        .ok()
        .and_then(|()| config.guardrails.environment_of(name))
        .ok_or_else(|| Problem::not_found("no managed stack of that name"))
}

/// Query parameters `DELETE /stacks/{name}` takes; any other is refused, so that a misspelt
/// `onUnsafe` is not silently the default.
pub const DELETE_QUERY: [&str; 2] = ["onUnsafe", "approvalTimeoutSeconds"];

/// Validates `DELETE /stacks/{name}` (the delete request, `request::DeleteRequest`) and returns the
/// workflow input. The plan-delete step validates it again, whoever starts the workflow.
pub fn delete_request(
    query: &[(&str, &str)],
    stack_name: &str,
    stack_id: &str,
    who: &str,
) -> Result<Value, Problem> {
    use crate::request::{DeleteRequest, OnUnsafeDeletion};
    if query.iter().any(|(k, _)| !DELETE_QUERY.contains(k)) {
        // The caller's own text is not repeated, not even a parameter's name.
        return Err(Problem::invalid(
            "query",
            format!(
                "holds a parameter a deletion does not take; it takes only {}",
                DELETE_QUERY.join(", ")
            ),
        ));
    }
    let first = |name: &str| query.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let on_unsafe = match first("onUnsafe") {
        Some(value) => OnUnsafeDeletion::parse(value)?,
        None => OnUnsafeDeletion::Fail,
    };
    let approval_timeout_seconds = match first("approvalTimeoutSeconds") {
        Some(value) => Some(value.parse::<u64>().map_err(|_| {
            Problem::invalid(
                "approvalTimeoutSeconds",
                "must be a whole number of seconds from 60 to 604800 (7 days)",
            )
        })?),
        None => None,
    };
    let stack_name = crate::request::StackName::parse(stack_name)
        .map_err(|message| Problem::invalid("stackName", message))?;
    let deletion = DeleteRequest {
        stack_name,
        stack_id: stack_id.to_string(),
        on_unsafe,
        approval_timeout_seconds,
        requested_by: Some(who.to_string()),
    };
    // Validated as the workflow will; what the workflow receives is the request, not the result.
    deletion.clone().validate()?;
    serde_json::to_value(&deletion).map_err(|e| Problem::internal(e.to_string()))
}

/// Fields of the deploy request the API does not take: revisions come from CodePipeline, who
/// asked is what API Gateway says, never what the body says, and whether an execution plans or
/// applies a plan is the route's (`POST /plans`, `POST /stacks {planId}`). Another account or
/// Region is only a release's stack's (`RELEASE_STACK_PLACE`).
pub const NOT_FROM_THE_API: [&str; 10] = [
    "revisionS3Bucket",
    "revisionS3Key",
    "templatePath",
    "requestedBy",
    "planExpiresAt",
    "applyPlan",
    "releasePlan",
    "releaseApproval",
    "account",
    "region",
];

/// What a release's stack may say of the request fields no deployment body may: where it lives.
pub const RELEASE_STACK_PLACE: [&str; 2] = ["account", "region"];

/// A deploy request the API accepted: the workflow input (with who asked), the deployment it
/// describes, and the inline template to store before anything starts.
#[derive(Debug)]
pub struct ValidRequest {
    pub input: Value,
    pub deployment: Deployment,
    pub inline: Option<inline::InlineTemplate>,
}

/// Validates `POST /stacks` (the deploy request, `request::DeployRequest`, or with `templateBody`
/// in place of its template source). The plan step applies the same guardrails again, whoever
/// starts the workflow.
pub fn create_request(
    body: Map<String, Value>,
    config: &ApiConfig,
    execution_name: &str,
    requested_by: &str,
) -> Result<ValidRequest, Problem> {
    create_request_with(body, config, execution_name, requested_by, None)
}

/// `create_request`, with a field the API itself sets (`plans::plan_request`'s expiry).
fn create_request_with(
    mut body: Map<String, Value>,
    config: &ApiConfig,
    execution_name: &str,
    requested_by: &str,
    set: Option<(&str, Value)>,
) -> Result<ValidRequest, Problem> {
    if let Some(refused) = body.keys().find(|k| NOT_FROM_THE_API.contains(&k.as_str())) {
        return Err(Problem::invalid(
            refused.as_str(),
            "is not accepted by the API: give templateUrl or templateS3Bucket+templateS3Key; who asked is taken from the API's authentication; POST /plans makes a plan and POST /stacks with planId applies one",
        ));
    }
    let inline = inline::take(&mut body, &config.guardrails)?;
    let mut input = Value::Object(body);
    input["requestedBy"] = json!(requested_by);
    if let Some((field, value)) = set {
        input[field] = value;
    }
    let deployment = parse_deployment(&input, execution_name).map_err(Problem::from)?;
    config
        .guardrails
        .authorize(&deployment)
        .map_err(Problem::from)?;
    Ok(ValidRequest {
        input,
        deployment,
        inline,
    })
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn config() -> ApiConfig {
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
            plan_seconds: plans::DEFAULT_PLAN_SECONDS,
            targets: Targets {
                accounts: vec!["111111111111".into()],
                regions: vec!["eu-west-1".into(), "eu-central-1".into()],
            },
            home_region: "us-east-1".into(),
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
        assert_eq!(route("POST", "/create"), Ok(Endpoint::CompatCreate));
        assert_eq!(
            route("GET", "/state/prod-app"),
            Ok(Endpoint::CompatState("prod-app".into()))
        );
        assert_eq!(route("POST", "/delete"), Ok(Endpoint::CompatDelete));
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

    pub(crate) fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn create_requests_are_validated_field_by_field() {
        let c = config();
        let good = body(
            json!({"environmentName":"dev","stackName":"app","templateUrl":"https://templates.s3.amazonaws.com/a.yaml"}),
        );
        let ValidRequest {
            input, deployment, ..
        } = create_request(good, &c, "deploy-x", "apikey:abc").unwrap();
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

    /// The request is defined once (`request::DeployRequest`); its table in `docs/api.md` is
    /// checked against it, field by field, with what the API refuses.
    #[test]
    fn the_documented_deploy_request_is_the_one_in_the_code() {
        let text = include_str!("../../../../docs/api.md");
        let table = text
            .split("## The deploy request")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("docs/api.md has a section \"The deploy request\"");
        let mut documented = Vec::new();
        let mut refused = Vec::new();
        for row in table.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_string();
            if cells.last().is_some_and(|c| c.is_empty())
                && cells[cells.len() - 2].starts_with("no")
            {
                refused.push(name.clone());
            }
            documented.push(name);
        }
        let mut fields = crate::request::DeployRequest::field_names();
        assert_eq!(fields.len(), 26, "{fields:?}");
        // The API's own field, which becomes the object it names before any workflow sees it.
        fields.push(inline::FIELD.to_string());
        fields.sort();
        documented.sort();
        assert_eq!(
            documented, fields,
            "docs/api.md's table and DeployRequest differ"
        );
        refused.sort();
        let mut not_from_the_api = NOT_FROM_THE_API.map(str::to_string).to_vec();
        not_from_the_api.sort();
        assert_eq!(
            refused, not_from_the_api,
            "the table's last column and NOT_FROM_THE_API differ"
        );
    }
}
