//! Plan, then apply, as pure functions. `POST /plans` starts a safe-deploy execution that only
//! plans (`planExpiresAt`): it makes and judges the change set, gives the stack's lease back and
//! keeps the change set until the plan expires. `POST /stacks {"planId"}` starts the execution that
//! applies it (`applyPlan`): that one takes the lease, judges the same change set again and
//! executes it, never a new one. A plan is its caller's: another caller can neither read nor apply
//! it.

use serde_json::{json, Map, Value};

use super::{create_request_with, ApiConfig, Problem, Workflow};
use crate::request::is_plan_id;

/// `POST /plans`'s own field, besides the deploy request's.
pub const EXPIRES_FIELD: &str = "expiresInSeconds";

/// The longest an operator lets a plan wait (`PlanMinutes`): 7 days, the workflow's own bound.
pub const MAX_PLAN_SECONDS: u64 = 7 * 24 * 60 * 60;

/// The plan's default and longest life when the operator says nothing: an hour.
pub const DEFAULT_PLAN_SECONDS: u64 = 60 * 60;

/// A plan within this many seconds of its expiry is not applied: the execution applying it would
/// find its change set deleted.
pub const EXPIRY_MARGIN_SECONDS: u64 = 5;

/// The error with which applying a plan stops the plan's execution (its history says why it stopped).
pub const APPLIED_ERROR: &str = "PlanApplied";

/// Validates `POST /plans` and returns the workflow input (the deploy request, who asked and when
/// the plan expires) and the deployment it describes.
pub fn plan_request(
    mut body: Map<String, Value>,
    config: &ApiConfig,
    execution_name: &str,
    requested_by: &str,
    now: u64,
) -> Result<super::ValidRequest, Problem> {
    let longest = config.plan_seconds;
    let seconds = match body.remove(EXPIRES_FIELD) {
        None => longest,
        Some(value) => value
            .as_u64()
            .filter(|s| (1..=longest).contains(s))
            .ok_or_else(|| {
                Problem::invalid(
                    EXPIRES_FIELD,
                    format!("must be a whole number of seconds from 1 to {longest}"),
                )
            })?,
    };
    let expires_at = crate::approval::timestamp(now + seconds);
    create_request_with(
        body,
        config,
        execution_name,
        requested_by,
        Some(("planExpiresAt", json!(expires_at))),
    )
}

/// Validates `POST /stacks` with a `planId`: the plan holds the request, so nothing else is taken.
/// `None`: the body asks for a deployment, not a plan's.
pub fn apply_request(body: &Map<String, Value>) -> Result<Option<String>, Problem> {
    let Some(plan) = body.get("planId") else {
        return Ok(None);
    };
    if let Some(other) = body.keys().find(|k| k.as_str() != "planId") {
        return Err(Problem::invalid(
            other.as_str(),
            "is not taken with planId: the plan holds the whole request",
        ));
    }
    plan.as_str()
        .filter(|id| is_plan_id(id))
        .map(|id| Some(id.to_string()))
        .ok_or_else(|| {
            Problem::invalid(
                "planId",
                "must be a plan id as POST /plans answered it (deploy-…)",
            )
        })
}

/// Whether an execution's input is a plan's.
pub fn is_plan(input: &Value) -> bool {
    input.get("planExpiresAt").and_then(Value::as_str).is_some()
}

/// A plan's execution: under an `Idempotency-Key`, a name of its own kind (`deploy-p…`), so that
/// the same key on `POST /stacks` and `POST /plans` names two executions, not one for both.
pub fn plan_execution_name(
    idempotency_key: Option<&str>,
    request_id: &str,
    caller: &str,
) -> String {
    match idempotency_key {
        Some(key) => format!("deploy-p{}", super::name_hash(&["plan", caller, key])),
        None => super::execution_name(Workflow::Deploy, None, request_id, caller),
    }
}

/// The execution that applies `plan` for `caller`: one per plan and caller, so that a retried
/// apply finds it. No `Idempotency-Key` names it (those are `deploy-k…`): the plan step applies a
/// plan only in an execution of this name for its `requestedBy`, which only the stacks API starts,
/// after checking that the plan is that caller's.
pub fn apply_execution_name(plan: &str, caller: &str) -> String {
    format!("deploy-a{}", super::name_hash(&["apply", caller, plan]))
}

/// The applying execution's input: the plan's request, executing the plan's change set.
pub fn applying_input(plan_input: &Value, plan: &str) -> Value {
    let mut input = plan_input.clone();
    if let Value::Object(fields) = &mut input {
        fields.remove("planExpiresAt");
        fields.insert("applyPlan".to_string(), json!(plan));
    }
    input
}

/// Whether two executions' inputs are the same request; a plan's expiry is when it was asked, not
/// what (a replayed `POST /plans` computes it again), but a plan is never a deployment.
pub fn same_request(a: &Value, b: &Value) -> bool {
    if is_plan(a) != is_plan(b) {
        return false;
    }
    // A release's stacks' plans too: each expires a fixed time after the release was asked.
    let without_expiry = |v: &Value| {
        let mut v = v.clone();
        if let Value::Object(fields) = &mut v {
            fields.remove("planExpiresAt");
        }
        let stacks = v.get_mut("stacks").and_then(Value::as_array_mut);
        for stack in stacks.into_iter().flatten() {
            if let Some(Value::Object(plan)) = stack.get_mut("plan") {
                plan.remove("planExpiresAt");
            }
        }
        v
    };
    without_expiry(a) == without_expiry(b)
}

/// Whether a plan that expires at `expires_at` (RFC 3339) may still be applied at `now`.
pub fn still_valid(expires_at: &str, now: u64) -> bool {
    use aws_smithy_types::date_time::{DateTime, Format};
    DateTime::from_str(expires_at, Format::DateTime)
        .ok()
        .is_some_and(|at| at.secs() > (now + EXPIRY_MARGIN_SECONDS) as i64)
}

/// What a plan's execution says, as far as the caller who made it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanStatus {
    /// The change set is being made and judged.
    Planning,
    /// Judged and waiting to be applied.
    Ready,
    NoChanges,
    /// Refused as it stands (unsafe with onUnsafe=fail, a Guard rule, drift): nothing to apply.
    Refused,
    Expired,
    Applied,
    Failed,
}

impl PlanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Planning => "PLANNING",
            PlanStatus::Ready => "READY",
            PlanStatus::NoChanges => "NO_CHANGES",
            PlanStatus::Refused => "REFUSED",
            PlanStatus::Expired => "EXPIRED",
            PlanStatus::Applied => "APPLIED",
            PlanStatus::Failed => "FAILED",
        }
    }

    /// From the execution's status, output, error and the plan step's result (`$.plan`);
    /// `applied`: the execution applying it exists (a stopped plan was stopped by its apply).
    pub fn of(
        execution_status: &str,
        output: Option<&Value>,
        error: Option<&str>,
        plan: Option<&Value>,
        applied: bool,
    ) -> Self {
        let outcome = output.and_then(|o| o["outcome"].as_str());
        match execution_status {
            "RUNNING" => match plan.and_then(|p| p["status"].as_str()) {
                Some("READY") => PlanStatus::Ready,
                _ => PlanStatus::Planning,
            },
            "SUCCEEDED" if outcome == Some("NO_CHANGES") => PlanStatus::NoChanges,
            "SUCCEEDED" if outcome == Some("PLAN_EXPIRED") => PlanStatus::Expired,
            "ABORTED" if applied => PlanStatus::Applied,
            "FAILED"
                if error.is_some_and(|e| {
                    [
                        "UnsafeChangeSet",
                        "GuardRuleFailed",
                        "StackDrifted",
                        "InvalidInput",
                        "InvalidTemplate",
                        "StackNotManaged",
                        "ChangeSetFailed",
                    ]
                    .contains(&e)
                }) =>
            {
                PlanStatus::Refused
            }
            _ => PlanStatus::Failed,
        }
    }
}

/// `GET /plans/{id}`: the plan's status and, once judged, its verdict and every judged change.
pub struct PlanView<'a> {
    pub plan_id: &'a str,
    pub status: PlanStatus,
    pub input: &'a Value,
    /// The plan step's result (`$.plan`), once there is one.
    pub plan: Option<&'a Value>,
    pub error: Option<&'a str>,
    pub cause: Option<String>,
    /// The applying execution, for an APPLIED plan.
    pub applied_by: Option<&'a str>,
    pub base: &'a str,
}

impl PlanView<'_> {
    pub fn body(&self) -> Value {
        let mut body = json!({
            "planId": self.plan_id,
            "status": self.status.as_str(),
            "environmentName": self.input["environmentName"],
            "stackName": self.input["stackName"],
            "expiresAt": self.input["planExpiresAt"],
            "statusUrl": format!("{}/plans/{}", self.base, self.plan_id),
        });
        if let Some(plan) = self.plan {
            let inspection = &plan["inspection"];
            if inspection.is_object() {
                for key in [
                    "verdict",
                    "totalChanges",
                    "unsafeChanges",
                    "securitySensitiveChanges",
                    "needsApproval",
                    "changes",
                    "summary",
                    "drift",
                    "guardFailures",
                ] {
                    if !inspection[key].is_null() {
                        body[key] = inspection[key].clone();
                    }
                }
            }
            body["changeSetName"] = plan["changeSet"]["changeSetName"].clone();
            body["onUnsafe"] = plan["check"]["deployment"]["onUnsafe"].clone();
        }
        if self.status == PlanStatus::Ready {
            body["apply"] =
                json!({"method": "POST", "path": "/stacks", "body": {"planId": self.plan_id}});
        }
        if let Some(applied_by) = self.applied_by {
            body["appliedBy"] = json!({
                "executionId": applied_by,
                "statusUrl": format!("{}/executions/{applied_by}", self.base),
            });
        }
        if let Some(error) = self.error {
            body["error"] = json!(error);
            body["cause"] = json!(self.cause);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{body, config};
    use super::*;

    fn request() -> Map<String, Value> {
        body(json!({"environmentName": "dev", "stackName": "app",
                    "templateUrl": "https://templates.s3.amazonaws.com/app.yaml"}))
    }

    #[test]
    fn a_plan_expires_when_asked_within_the_operators_bound() {
        let super::super::ValidRequest {
            input, deployment, ..
        } = plan_request(request(), &config(), "deploy-x", "me", 0).unwrap();
        assert_eq!(input["planExpiresAt"], "1970-01-01T01:00:00Z");
        assert_eq!(
            deployment.plan_expires_at.as_deref(),
            Some("1970-01-01T01:00:00Z")
        );
        assert_eq!(input["requestedBy"], "me");
        assert!(input.get(EXPIRES_FIELD).is_none());

        let mut short = request();
        short.insert(EXPIRES_FIELD.into(), json!(30));
        let input = plan_request(short, &config(), "deploy-x", "me", 0)
            .unwrap()
            .input;
        assert_eq!(input["planExpiresAt"], "1970-01-01T00:00:30Z");

        for refused in [json!(0), json!(3601), json!("60"), json!(-1), json!(1.5)] {
            let mut asked = request();
            asked.insert(EXPIRES_FIELD.into(), refused);
            let problem = plan_request(asked, &config(), "deploy-x", "me", 0).unwrap_err();
            assert_eq!(problem.field.as_deref(), Some(EXPIRES_FIELD));
        }
    }

    #[test]
    fn a_body_cannot_say_it_is_a_plan_or_applies_one() {
        for (field, value) in [
            ("planExpiresAt", json!("2999-01-01T00:00:00Z")),
            ("applyPlan", json!("deploy-kabc")),
        ] {
            let mut asked = request();
            asked.insert(field.into(), value);
            let problem = plan_request(asked.clone(), &config(), "deploy-x", "me", 0).unwrap_err();
            assert_eq!(problem.field.as_deref(), Some(field));
            let problem =
                super::super::create_request(asked, &config(), "deploy-x", "me").unwrap_err();
            assert_eq!(problem.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn applying_takes_a_plan_id_and_nothing_else() {
        assert_eq!(apply_request(&request()).unwrap(), None);
        let only = body(json!({"planId": "deploy-kabc123"}));
        assert_eq!(
            apply_request(&only).unwrap().as_deref(),
            Some("deploy-kabc123")
        );
        let with_more = body(json!({"planId": "deploy-kabc123", "stackName": "other"}));
        let problem = apply_request(&with_more).unwrap_err();
        assert_eq!(problem.field.as_deref(), Some("stackName"));
        for bad in [
            json!("delete-kabc"),
            json!("deploy-"),
            json!("deploy-a/b"),
            json!(7),
            json!("deploy-sécret"),
        ] {
            let problem = apply_request(&body(json!({"planId": bad}))).unwrap_err();
            assert_eq!(problem.field.as_deref(), Some("planId"));
            assert!(!problem.detail.contains("sécret"));
        }
    }

    #[test]
    fn the_applying_execution_is_one_per_plan_and_caller_and_carries_the_plans_request() {
        let a = apply_execution_name("deploy-k1", "me");
        assert_eq!(a, apply_execution_name("deploy-k1", "me"));
        assert_ne!(a, apply_execution_name("deploy-k1", "you"));
        assert_ne!(a, apply_execution_name("deploy-k2", "me"));
        assert_eq!(super::super::execution_workflow(&a), Some(Workflow::Deploy));
        let plan_input = plan_request(request(), &config(), "deploy-k1", "me", 0)
            .unwrap()
            .input;
        let input = applying_input(&plan_input, "deploy-k1");
        assert!(input.get("planExpiresAt").is_none());
        assert_eq!(input["applyPlan"], "deploy-k1");
        assert_eq!(input["requestedBy"], "me");
        let deployment = crate::request::parse_deployment(&input, &a).unwrap();
        assert_eq!(deployment.apply_plan.as_deref(), Some("deploy-k1"));
        assert!(is_plan(&plan_input) && !is_plan(&input));
    }

    #[test]
    fn plans_applies_and_deployments_never_share_an_execution() {
        let key = Some("order-42");
        let plan = plan_execution_name(key, "req-1", "me");
        let deploy = super::super::execution_name(Workflow::Deploy, key, "req-1", "me");
        assert_ne!(plan, deploy);
        assert_eq!(plan, plan_execution_name(key, "req-2", "me"), "a replay");
        assert_ne!(plan, plan_execution_name(key, "req-1", "you"));
        assert!(plan.starts_with("deploy-p") && is_plan_id(&plan));
        // No key a caller sends names the execution that applies a plan.
        let apply = apply_execution_name(&plan, "me");
        assert!(apply.starts_with("deploy-a"));
        for key in [format!("apply {plan}"), plan.clone()] {
            assert_ne!(
                apply,
                super::super::execution_name(Workflow::Deploy, Some(&key), "", "me")
            );
        }
        let planned = plan_request(request(), &config(), &plan, "me", 0)
            .unwrap()
            .input;
        let deployed = super::super::create_request(request(), &config(), &deploy, "me")
            .unwrap()
            .input;
        assert!(!same_request(&planned, &deployed) && !same_request(&deployed, &planned));
    }

    #[test]
    fn a_replayed_plan_request_is_the_same_request_whatever_its_expiry() {
        let a = plan_request(request(), &config(), "deploy-k1", "me", 0)
            .unwrap()
            .input;
        let b = plan_request(request(), &config(), "deploy-k1", "me", 99)
            .unwrap()
            .input;
        assert_ne!(a, b);
        assert!(same_request(&a, &b));
        let mut other = request();
        other.insert("onUnsafe".into(), json!("approve"));
        let c = plan_request(other, &config(), "deploy-k1", "me", 0)
            .unwrap()
            .input;
        assert!(!same_request(&a, &c));
    }

    #[test]
    fn a_plan_is_applied_only_before_it_expires() {
        assert!(still_valid("1970-01-01T00:01:00Z", 0));
        assert!(!still_valid("1970-01-01T00:01:00Z", 56));
        assert!(!still_valid("1970-01-01T00:01:00Z", 60));
        assert!(!still_valid("not a time", 0));
    }

    #[test]
    fn a_plans_status_follows_its_execution() {
        let ready = json!({"status": "READY"});
        fn of(
            status: &str,
            output: Option<&Value>,
            error: Option<&str>,
            plan: Option<&Value>,
        ) -> PlanStatus {
            PlanStatus::of(status, output, error, plan, false)
        }
        assert_eq!(of("RUNNING", None, None, None), PlanStatus::Planning);
        assert_eq!(of("RUNNING", None, None, Some(&ready)), PlanStatus::Ready);
        let outcome = |o: &str| json!({"outcome": o});
        assert_eq!(
            of("SUCCEEDED", Some(&outcome("NO_CHANGES")), None, None),
            PlanStatus::NoChanges
        );
        assert_eq!(
            of(
                "SUCCEEDED",
                Some(&outcome("PLAN_EXPIRED")),
                None,
                Some(&ready)
            ),
            PlanStatus::Expired
        );
        assert_eq!(
            PlanStatus::of("ABORTED", None, None, Some(&ready), true),
            PlanStatus::Applied
        );
        assert_eq!(
            of("ABORTED", None, Some(APPLIED_ERROR), Some(&ready)),
            PlanStatus::Failed,
            "stopped, and not by an apply"
        );
        assert_eq!(
            of("FAILED", None, Some("UnsafeChangeSet"), None),
            PlanStatus::Refused
        );
        assert_eq!(
            of("FAILED", None, Some("States.Timeout"), None),
            PlanStatus::Failed
        );
    }

    #[test]
    fn a_ready_plan_shows_its_judgement_and_how_to_apply_it() {
        let input = plan_request(request(), &config(), "deploy-k1", "me", 0)
            .unwrap()
            .input;
        let plan = json!({"status": "READY",
            "check": {"deployment": {"onUnsafe": "approve"}},
            "changeSet": {"changeSetName": "stackgate-1"},
            "inspection": {"verdict": "UNSAFE", "totalChanges": 2, "unsafeChanges": 1,
                           "securitySensitiveChanges": 0, "needsApproval": false,
                           "changes": [{"logicalResourceId": "Table"}], "summary": "- Table"}});
        let view = PlanView {
            plan_id: "deploy-k1",
            status: PlanStatus::Ready,
            input: &input,
            plan: Some(&plan),
            error: None,
            cause: None,
            applied_by: None,
            base: "https://api/v1",
        }
        .body();
        assert_eq!(view["status"], "READY");
        assert_eq!(view["verdict"], "UNSAFE");
        assert_eq!(view["changes"][0]["logicalResourceId"], "Table");
        assert_eq!(view["onUnsafe"], "approve");
        assert_eq!(view["expiresAt"], "1970-01-01T01:00:00Z");
        assert_eq!(view["apply"]["body"]["planId"], "deploy-k1");
        assert_eq!(view["statusUrl"], "https://api/v1/plans/deploy-k1");
        assert!(view.get("appliedBy").is_none());
    }
}
