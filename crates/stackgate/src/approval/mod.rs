//! Approvals by people: the rules that make an emailed link safe to click. The Step Functions task
//! token stays server-side behind an opaque id; links are signed and expire; a GET only shows a
//! confirmation page; a decision is taken once.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::TaskError;

mod email;
mod link;
mod release;
pub use email::*;
pub use link::*;
pub use release::*;

/// Default time a person has to decide.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 24 * 60 * 60;
const MIN_TIMEOUT_SECONDS: u64 = 60;
/// The longest a person can be given; workflows that wait for people outlive it.
pub const MAX_TIMEOUT_SECONDS: u64 = 7 * 24 * 60 * 60;
/// How much earlier than the workflow's own timeout a link expires.
pub const EXPIRY_MARGIN_SECONDS: u64 = 5;
/// Decided approvals stay readable (409 rather than 404) this long before DynamoDB's TTL removes them.
pub const RETENTION_SECONDS: u64 = 30 * 24 * 60 * 60;
const MAX_COMMENT: usize = 1000;

/// What kind of decision a request asks for. One enum, so that every place that treats kinds
/// differently (titles, links, labels, rejection errors) has to say what it does with each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApprovalKind {
    /// An unsafe change set.
    Deployment,
    /// A stack deletion that loses data.
    Deletion,
    /// A workflow's manual step.
    ManualTask,
    /// An external system's job, reported through a job-result link.
    ExternalJob,
    /// A release with unsafe stacks: one decision for every stack's plan.
    Release,
}

impl ApprovalKind {
    /// Its name in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalKind::Deployment => "Deployment",
            ApprovalKind::Deletion => "Deletion",
            ApprovalKind::ManualTask => "ManualTask",
            ApprovalKind::ExternalJob => "ExternalJob",
            ApprovalKind::Release => "Release",
        }
    }
}

/// What a person is asked to decide, as shown in the email and on the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequest {
    pub kind: ApprovalKind,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub stack_name: Option<String>,
    #[serde(default)]
    pub environment_name: Option<String>,
    #[serde(default)]
    pub change_set_name: Option<String>,
    /// The change-set diff as `+ / ~ / -` lines.
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub unsafe_changes: Option<u64>,
    #[serde(default)]
    pub total_changes: Option<u64>,
    #[serde(default)]
    pub task_name: Option<String>,
    #[serde(default)]
    pub instructions: Option<String>,
    #[serde(default)]
    pub requested_by: String,
    /// A release's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// A release's plans as the workflow names them (their execution ARNs); the emailer reads
    /// each and stores what it judged as `stacks`, never what the workflow claims of them.
    #[serde(default, skip_serializing)]
    pub plan_executions: Vec<String>,
    /// A release's stacks, each as its plan judged it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stacks: Vec<PlannedStack>,
}

impl ApprovalRequest {
    /// Fills defaults and checks the fields a kind needs.
    pub fn normalised(mut self) -> Result<Self, TaskError> {
        let stack = || {
            self.stack_name
                .clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| TaskError::invalid("request.stackName", "is required for a stack"))
        };
        let task = || {
            self.task_name
                .clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| TaskError::invalid("request.taskName", "is required for a task"))
        };
        let title = match self.kind {
            ApprovalKind::Deployment => format!(
                "Approve unsafe changes (deletions, replacements or access changes) in {}?",
                stack()?
            ),
            ApprovalKind::Deletion => {
                format!("Approve deleting {} and the data it holds?", stack()?)
            }
            ApprovalKind::ManualTask => format!("Manual task: {}", task()?),
            ApprovalKind::ExternalJob => format!("External job: {}", task()?),
            ApprovalKind::Release => {
                let release = self
                    .release
                    .clone()
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| {
                        TaskError::invalid("request.release", "is required for a release")
                    })?;
                if self.stacks.is_empty() {
                    return Err(TaskError::invalid(
                        "request.planExecutions",
                        "is required for a release: its stacks' plans",
                    ));
                }
                self.unsafe_changes = Some(self.stacks.iter().map(|s| s.unsafe_changes).sum());
                self.total_changes = Some(self.stacks.iter().map(|s| s.total_changes).sum());
                let unsafe_stacks = self.stacks.iter().filter(|s| s.unsafe_changes > 0).count();
                // Grouped by where they are deployed, in the manifest's order within each place.
                self.stacks
                    .sort_by(|a, b| (&a.account, &a.region).cmp(&(&b.account, &b.region)));
                format!(
                    "Approve release {release}: unsafe changes in {unsafe_stacks} of its {} stacks?",
                    self.stacks.len()
                )
            }
        };
        if self.title.is_empty() {
            self.title = title;
        }
        if self.requested_by.is_empty() {
            self.requested_by = "stackgate".into();
        }
        Ok(self)
    }

    /// The error a rejection fails the workflow with.
    pub fn rejection_error(&self) -> &'static str {
        match self.kind {
            ApprovalKind::Deployment => "ChangeSetRejected",
            ApprovalKind::Deletion => "DeletionRejected",
            ApprovalKind::ManualTask => "ManualTaskFailed",
            ApprovalKind::ExternalJob => "ExternalJobFailed",
            ApprovalKind::Release => "ReleaseRejected",
        }
    }
}

/// The time a person gets: the requested seconds, within sane bounds.
pub fn timeout_seconds(requested: Option<u64>) -> u64 {
    requested
        .unwrap_or(DEFAULT_TIMEOUT_SECONDS)
        .clamp(MIN_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Approved,
    Rejected,
    /// The workflow stopped waiting before the decision reached it.
    Expired,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(Status::Pending),
            "approved" => Some(Status::Approved),
            "rejected" => Some(Status::Rejected),
            "expired" => Some(Status::Expired),
            _ => None,
        }
    }
}

/// An approval as stored (the task token is stored beside it, never in this struct).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApproval {
    pub id: String,
    pub status: Status,
    pub created_at: u64,
    pub expires_at: u64,
    pub request: ApprovalRequest,
    pub decided_by: Option<String>,
    pub decided_at: Option<u64>,
    pub comment: Option<String>,
    /// The execution waiting for the decision, where the workflow names it: its history says
    /// whether an answer whose reply was lost arrived.
    pub execution_arn: Option<String>,
}

/// Why a decision cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    AlreadyDecided,
    Expired,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::NotFound => 404,
            Refusal::AlreadyDecided => 409,
            Refusal::Expired => 410,
        }
    }

    pub fn message(&self) -> &'static str {
        match self {
            Refusal::NotFound => "There is no such request.",
            Refusal::AlreadyDecided => "This request has already been decided.",
            Refusal::Expired => "This request has expired; the workflow no longer waits for it.",
        }
    }
}

/// Whether a decision may be taken now.
pub fn can_decide(stored: Option<&StoredApproval>, now: u64) -> Result<(), Refusal> {
    let stored = stored.ok_or(Refusal::NotFound)?;
    match stored.status {
        Status::Pending if now >= stored.expires_at => Err(Refusal::Expired),
        Status::Pending => Ok(()),
        Status::Expired => Err(Refusal::Expired),
        Status::Approved | Status::Rejected => Err(Refusal::AlreadyDecided),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// A decision as posted by the page's form (or as JSON), with the link's parts. There is no field for
/// who decides: that is the recipient the link was signed for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DecisionForm {
    pub decision: Option<String>,
    #[serde(default)]
    pub comment: Option<String>,
    #[serde(default)]
    pub exp: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub sig: Option<String>,
}

/// A posted decision, validated; `approver` is the verified recipient of the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidDecision {
    pub decision: Decision,
    pub approver: String,
    pub comment: Option<String>,
}

pub fn parse_decision(form: &DecisionForm, approver: &str) -> Result<ValidDecision, TaskError> {
    let decision = match form.decision.as_deref().map(str::trim) {
        Some("approve") | Some("done") => Decision::Approve,
        Some("reject") | Some("failed") => Decision::Reject,
        Some(_) => {
            return Err(TaskError::invalid(
                "decision",
                "must be \"approve\" or \"reject\"",
            ))
        }
        None => return Err(TaskError::invalid("decision", "is required")),
    };
    let comment = form
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.len() > MAX_COMMENT) {
        return Err(TaskError::invalid(
            "comment",
            format!("must be at most {MAX_COMMENT} characters"),
        ));
    }
    Ok(ValidDecision {
        decision,
        approver: approver.to_string(),
        comment: comment.map(str::to_string),
    })
}

/// What Step Functions receives for a decision: the task output on approval, or (error, cause).
/// The approval's id goes with a yes: a release's stacks execute on it (`release_approves`).
pub fn task_result(
    stored: &StoredApproval,
    decision: &ValidDecision,
    decided_at: &str,
) -> Result<Value, (String, String)> {
    let request = &stored.request;
    match decision.decision {
        Decision::Approve => Ok(json!({
            "approved": true,
            "approvalId": stored.id,
            "approvedBy": decision.approver,
            "approvedAt": decided_at,
            "comment": decision.comment,
        })),
        Decision::Reject => Err((
            request.rejection_error().to_string(),
            format!(
                "rejected by {} at {decided_at}{}",
                decision.approver,
                decision
                    .comment
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            ),
        )),
    }
}

/// `arn:<partition>:states:<region>:<account>:execution:<state machine>:<name>`.
pub fn is_execution_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() == 8
        && parts[0] == "arn"
        && parts[2] == "states"
        && parts[5] == "execution"
        && parts.iter().all(|p| !p.is_empty())
}

/// Epoch seconds as RFC 3339.
pub fn timestamp(epoch_seconds: u64) -> String {
    aws_smithy_types::DateTime::from_secs(epoch_seconds as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| epoch_seconds.to_string())
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {

    use super::*;

    fn key() -> SigningKey {
        SigningKey::new("0123456789abcdef0123456789abcdef-test-key").unwrap()
    }

    fn deployment() -> ApprovalRequest {
        ApprovalRequest {
            kind: ApprovalKind::Deployment,
            title: String::new(),
            stack_name: Some("prod-app".into()),
            environment_name: Some("prod".into()),
            change_set_name: Some("stackgate-1".into()),
            summary: Some("- EventsTopic (AWS::SNS::Topic)\n~ Db (AWS::RDS::DBInstance) [REPLACE]\n+ Queue (AWS::SQS::Queue)".into()),
            unsafe_changes: Some(2),
            total_changes: Some(3),
            task_name: None,
            instructions: None,
            requested_by: "pipeline".into(),
            release: None,
            plan_executions: Vec::new(),
            stacks: Vec::new(),
        }
        .normalised()
        .unwrap()
    }

    const TOKEN: &str = "AAAAKgAAAAIAAAAAAAAAAfake+task/token==";

    fn stored(status: Status, expires_at: u64) -> StoredApproval {
        StoredApproval {
            id: "id".into(),
            status,
            created_at: 1000,
            expires_at,
            request: deployment(),
            decided_by: None,
            decided_at: None,
            comment: None,
            execution_arn: None,
        }
    }

    #[test]
    fn only_an_execution_arn_names_the_waiting_execution() {
        assert!(is_execution_arn(
            "arn:aws:states:us-east-1:123456789012:execution:SafeDeploy:api-1"
        ));
        for other in [
            "arn:aws:states:us-east-1:123456789012:stateMachine:SafeDeploy",
            "arn:aws:states:us-east-1:123456789012:execution:SafeDeploy",
            "arn:aws:lambda:us-east-1:123456789012:execution:SafeDeploy:x",
            "arn:aws:states:us-east-1::execution:SafeDeploy:x",
            "SafeDeploy:x",
            "",
        ] {
            assert!(!is_execution_arn(other), "{other}");
        }
    }

    #[test]
    fn decisions_are_taken_once_and_only_before_expiry() {
        assert_eq!(can_decide(None, 5), Err(Refusal::NotFound));
        assert_eq!(
            can_decide(Some(&stored(Status::Pending, 2000)), 1999),
            Ok(())
        );
        assert_eq!(
            can_decide(Some(&stored(Status::Pending, 2000)), 2000),
            Err(Refusal::Expired)
        );
        assert_eq!(
            can_decide(Some(&stored(Status::Approved, 2000)), 1500),
            Err(Refusal::AlreadyDecided)
        );
        assert_eq!(
            can_decide(Some(&stored(Status::Rejected, 2000)), 1500),
            Err(Refusal::AlreadyDecided)
        );
        assert_eq!(
            can_decide(Some(&stored(Status::Expired, 2000)), 1500),
            Err(Refusal::Expired)
        );
        assert_eq!(Refusal::Expired.status(), 410);
    }

    #[test]
    fn posted_decisions_are_validated_and_who_decides_is_not_a_field() {
        let form = |d: &str| DecisionForm {
            decision: Some(d.into()),
            comment: Some("  ok  ".into()),
            exp: None,
            kid: None,
            to: None,
            sig: None,
        };
        let valid = parse_decision(&form("approve"), "ana@example.com").unwrap();
        assert_eq!(
            (
                valid.decision,
                valid.approver.as_str(),
                valid.comment.as_deref()
            ),
            (Decision::Approve, "ana@example.com", Some("ok"))
        );
        assert_eq!(
            parse_decision(&form("failed"), "a").unwrap().decision,
            Decision::Reject
        );
        assert!(parse_decision(&form("maybe"), "a").is_err());
        // A typed-in approver is not a field: the link's recipient decides.
        let parsed: DecisionForm = serde_urlencoded::from_str(
            "decision=reject&approver=CTO&comment=too+risky&exp=1&kid=1&to=bo%40example.com&sig=ab",
        )
        .unwrap();
        let decision = parse_decision(&parsed, "bo@example.com").unwrap();
        assert_eq!(decision.approver, "bo@example.com");
        assert_eq!(decision.comment.as_deref(), Some("too risky"));
    }

    #[test]
    fn task_results_carry_who_when_and_which_approval() {
        let request = stored(Status::Pending, 60);
        let approve = ValidDecision {
            decision: Decision::Approve,
            approver: "Ana".into(),
            comment: None,
        };
        let output = task_result(&request, &approve, "2026-01-01T00:00:00Z").unwrap();
        assert_eq!(output["approvedBy"], "Ana");
        assert_eq!(output["approvalId"], "id");
        let reject = ValidDecision {
            decision: Decision::Reject,
            approver: "Bo".into(),
            comment: Some("no".into()),
        };
        let (error, cause) = task_result(&request, &reject, "T").unwrap_err();
        assert_eq!(error, "ChangeSetRejected");
        assert_eq!(cause, "rejected by Bo at T: no");
    }

    #[test]
    fn the_email_shows_the_diff_and_the_link_but_never_the_token() {
        let k = key();
        let id = approval_id(&k, TOKEN);
        let link = approval_link("https://api.example/v1", &k, &id, 90_000, "ana@example.com");
        let email = render_email(&deployment(), &link, 3_600, 90_000).unwrap();
        for body in [&email.text, &email.html] {
            assert!(body.contains("prod-app"), "{body}");
            assert!(
                body.contains("EventsTopic") && body.contains("[REPLACE]"),
                "{body}"
            );
            assert!(
                body.contains("1970-01-02T01:00:00Z"),
                "expiry shown: {body}"
            );
            assert!(!body.contains(TOKEN) && !body.contains("AAAAKg"), "{body}");
        }
        assert!(email.text.contains(&link));
        // HTML attributes are entity-escaped ('/' as &#x2f;, '&' as &amp;); the signature is intact.
        let sig = link.rsplit("sig=").next().unwrap();
        assert!(
            email.html.contains(&format!("&amp;kid=1&amp;sig={sig}")),
            "{}",
            email.html
        );
        assert!(email.subject.contains("prod-app"));
    }

    #[test]
    fn html_is_escaped() {
        let mut request = deployment();
        request.summary = Some("<script>alert(1)</script>".into());
        let email = render_email(&request, "https://x/approvals/1?exp=1&sig=a", 0, 1).unwrap();
        assert!(!email.html.contains("<script>"));
        assert!(email.text.contains("<script>"), "plain text is not HTML");
    }

    #[test]
    fn the_page_has_the_form_only_while_open() {
        let s = stored(Status::Pending, 2000);
        let link = PresentedLink {
            exp: "2000".into(),
            kid: "1".into(),
            to: "ana@example.com".into(),
            sig: "abcd".into(),
        };
        let open = render_page(&s, "/approvals/id", &link, None, true).unwrap();
        assert!(open.contains("<form method=\"post\"") && open.contains("value=\"abcd\""));
        assert!(open.contains("ana@example.com"), "who decides is shown");
        assert!(!open.contains("name=\"approver\""), "and not asked for");
        let closed = render_page(
            &s,
            "/approvals/id",
            &link,
            Some("This request has already been decided."),
            false,
        )
        .unwrap();
        assert!(!closed.contains("<form") && closed.contains("already been decided"));
    }

    #[test]
    fn timeouts_are_bounded() {
        assert_eq!(timeout_seconds(None), DEFAULT_TIMEOUT_SECONDS);
        assert_eq!(timeout_seconds(Some(1)), MIN_TIMEOUT_SECONDS);
        assert_eq!(timeout_seconds(Some(u64::MAX)), MAX_TIMEOUT_SECONDS);
    }

    #[test]
    fn requests_need_their_kind_fields() {
        let mut r = deployment();
        r.stack_name = None;
        assert!(r.normalised().is_err());
        let manual = ApprovalRequest {
            kind: ApprovalKind::ManualTask,
            title: String::new(),
            stack_name: None,
            environment_name: None,
            change_set_name: None,
            summary: None,
            unsafe_changes: None,
            total_changes: None,
            task_name: Some("Open firewall port".into()),
            instructions: Some("Ticket NET-1".into()),
            requested_by: String::new(),
            release: None,
            plan_executions: Vec::new(),
            stacks: Vec::new(),
        }
        .normalised()
        .unwrap();
        assert_eq!(manual.title, "Manual task: Open firewall port");
        assert_eq!(manual.rejection_error(), "ManualTaskFailed");
        let bad = serde_json::from_value::<ApprovalRequest>(
            json!({"kind": "other", "stackName": "prod-app", "requestedBy": "x"}),
        );
        assert!(bad.is_err());
    }

    fn planned(stack: &str, account: Option<&str>, unsafe_changes: u64) -> PlannedStack {
        let summary = format!(
            "- {stack}Table (AWS::DynamoDB::Table) [REMOVE]\n+ {stack}Queue (AWS::SQS::Queue)"
        );
        PlannedStack {
            summary_digest: summary_digest(&summary),
            stack_name: stack.into(),
            plan: format!("deploy-p-{stack}"),
            change_set_name: format!("stackgate-{stack}"),
            account: account.map(str::to_string),
            region: account.map(|_| "eu-west-1".to_string()),
            verdict: if unsafe_changes > 0 { "UNSAFE" } else { "SAFE" }.into(),
            unsafe_changes,
            total_changes: unsafe_changes + 1,
            summary,
        }
    }

    fn release(stacks: Vec<PlannedStack>) -> ApprovalRequest {
        let mut request = deployment();
        request.kind = ApprovalKind::Release;
        request.title = String::new();
        request.stack_name = None;
        request.summary = None;
        request.release = Some("r7".into());
        request.stacks = stacks;
        request
    }

    #[test]
    fn a_release_approval_shows_every_stack_s_diff_grouped_by_where_it_goes() {
        let request = release(vec![
            planned("app", Some("222222222222"), 1),
            planned("network", None, 0),
            planned("data", Some("222222222222"), 2),
        ])
        .normalised()
        .unwrap();
        assert_eq!(
            request.title,
            "Approve release r7: unsafe changes in 2 of its 3 stacks?"
        );
        assert_eq!(
            (request.unsafe_changes, request.total_changes),
            (Some(3), Some(6))
        );
        let order: Vec<&str> = request
            .stacks
            .iter()
            .map(|s| s.stack_name.as_str())
            .collect();
        assert_eq!(order, ["network", "app", "data"]);
        assert_eq!(request.rejection_error(), "ReleaseRejected");
        let email = render_email(&request, "https://x/approvals/a1?sig=s", 0, 60).unwrap();
        for text in [&email.text, &email.html] {
            for stack in ["network", "app", "data"] {
                assert!(text.contains(&format!("{stack}Table (AWS::DynamoDB::Table) [REMOVE]")));
                assert!(text.contains(&format!("deploy-p-{stack}")));
            }
            // One heading per place, in order.
            assert_eq!(
                text.matches("Account 222222222222, Region eu-west-1")
                    .count(),
                1
            );
            assert!(
                text.find("Region (where stackgate runs)").unwrap()
                    < text.find("Account 222222222222").unwrap()
            );
        }
        let stored = StoredApproval {
            request: request.clone(),
            ..stored(Status::Pending, 60)
        };
        let link = PresentedLink {
            exp: "60".into(),
            kid: "k".into(),
            to: "a@example.com".into(),
            sig: "s".into(),
        };
        let page = render_page(&stored, "/approvals/a1", &link, None, true).unwrap();
        assert!(page.contains("Approve and release") && page.contains("dataTable"));
        // No plan, no release: nothing to approve.
        assert!(release(vec![]).normalised().is_err());
        let mut unnamed = release(vec![planned("app", None, 1)]);
        unnamed.release = None;
        assert!(unnamed.normalised().is_err());
    }

    #[test]
    fn only_an_approved_release_approval_listing_the_plan_lets_it_execute() {
        let request = release(vec![planned("app", None, 1)]).normalised().unwrap();
        let approved = StoredApproval {
            request,
            ..stored(Status::Approved, 60)
        };
        let listed = release_approves(&approved, "deploy-p-app").unwrap();
        assert_eq!(listed.stack_name, "app");
        // Only while the apply's judgement is the one people saw.
        let summary = listed.summary.clone();
        assert!(listed.judged_alike("UNSAFE", 1, 2, &summary));
        assert!(!listed.judged_alike(
            "UNSAFE",
            1,
            2,
            &format!("~ Drifted (AWS::S3::Bucket)\n{summary}")
        ));
        assert!(!listed.judged_alike("UNSAFE", 2, 3, &summary));
        assert!(!listed.judged_alike("SAFE", 1, 2, &summary));
        let mut undigested = listed.clone();
        undigested.summary_digest = String::new();
        assert!(!undigested.judged_alike("UNSAFE", 1, 2, &summary));
        // Another plan, not listed.
        assert!(release_approves(&approved, "deploy-p-data").is_err());
        // Pending, rejected or expired: no person said yes.
        for status in [Status::Pending, Status::Rejected, Status::Expired] {
            let undecided = StoredApproval {
                status,
                ..approved.clone()
            };
            assert!(release_approves(&undecided, "deploy-p-app").is_err());
        }
        // A deployment's approval, even one approved, is not a release's.
        assert!(release_approves(&stored(Status::Approved, 60), "deploy-p-app").is_err());
    }

    #[test]
    fn a_long_diff_is_cut_at_a_line_and_says_where_the_rest_is() {
        let summary: String = (0..100)
            .map(|i| format!("+ Queue{i} (AWS::SQS::Queue)\n"))
            .collect();
        let cut = cut_summary(&summary, 200, "deploy-p1");
        assert!(cut.len() < 300);
        assert!(cut.starts_with("+ Queue0 (AWS::SQS::Queue)\n"));
        assert!(cut.ends_with("more lines: the plan deploy-p1 holds the whole diff"));
        assert_eq!(cut_summary("+ A", 200, "p"), "+ A");
    }

    #[test]
    fn a_deletion_approval_lists_what_would_be_lost_and_says_delete() {
        let mut request = deployment();
        request.kind = ApprovalKind::Deletion;
        request.change_set_name = None;
        request.title = String::new();
        request.summary = Some("- Orders (AWS::DynamoDB::Table): removes AWS::DynamoDB::Table Orders; DeletionPolicy Delete: data lost".into());
        let request = request.normalised().unwrap();
        assert_eq!(
            request.title,
            "Approve deleting prod-app and the data it holds?"
        );
        assert_eq!(request.rejection_error(), "DeletionRejected");
        let email = render_email(&request, "https://x/approvals/1", 0, 1).unwrap();
        for body in [&email.text, &email.html] {
            assert!(
                body.contains("lose their data when the stack is deleted"),
                "{body}"
            );
            assert!(body.contains("DeletionPolicy Delete: data lost"), "{body}");
            assert!(!body.contains("Change set"), "{body}");
        }
        let mut stored = stored(Status::Pending, 2000);
        stored.request = request.clone();
        let link = PresentedLink {
            exp: "2000".into(),
            kid: "1".into(),
            to: "ana@example.com".into(),
            sig: "abcd".into(),
        };
        let page = render_page(&stored, "/approvals/id", &link, None, true).unwrap();
        assert!(page.contains("Approve and delete") && page.contains("Deleting stack"));
        let mut nameless = request;
        nameless.stack_name = None;
        assert!(nameless.normalised().is_err());
    }
}
