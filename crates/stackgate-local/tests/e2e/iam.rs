//! IAM enforced on the local stack: each function and state machine runs under its own role, created
//! from the template as SAM expands it, so a grant taken from that role shows end to end as the
//! AccessDenied AWS would answer. Run on their own, one at a time (`scripts/test.sh`): they change
//! roles every other test relies on.

use serde_json::{json, Value};
use stackgate_local::execution::Report;
use stackgate_local::unique_name as unique;
use stackgate_local::LocalClients;

use crate::common::{assert_failed_with, clients, deploy_revision};

#[tokio::test]
#[ignore = "needs the local stack, alone: scripts/test.sh runs it after the other suites"]
async fn a_function_without_one_grant_fails_with_access_denied_and_deploys_with_it() {
    let clients = clients().await;
    let (role, action) = (
        "CreateChangeSetFunctionRole",
        "cloudformation:CreateChangeSet",
    );
    let refused = deploy_without_on(&clients, role, action, "", json!({})).await;
    assert_failed_with(&refused, "AwsAccessDenied", action);
    assert!(
        refused.cause.as_deref().unwrap_or_default().contains(role),
        "the denial names the function's role: {refused:?}"
    );
    let deployed = deploy_revision(&clients, &unique("iam"), "app-v1.yaml", json!({})).await;
    assert_eq!(deployed.outcome(), Some("CREATED"), "{deployed:?}");
}

#[tokio::test]
#[ignore = "needs the local stack, alone: scripts/test.sh runs it after the other suites"]
async fn a_state_machine_without_one_grant_fails_its_task_and_deploys_with_it() {
    let clients = clients().await;
    // A plan gives the stack's lease back itself (ReleasePlanLease, an SDK integration). The state
    // machines' Lambda invocations are not enforced locally (checked by check-iam instead).
    let (role, action) = ("SafeDeployStateMachineRole", "dynamodb:DeleteItem");
    let plan = json!({"planExpiresAt": "2099-01-01T00:00:00Z"});
    let refused = deploy_without_on(&clients, role, action, "", plan).await;
    assert_eq!(refused.status, "FAILED", "{refused:?}");
    assert!(refused.entered("NotifyFailure"), "{refused:?}");
    let cause = refused.cause.as_deref().unwrap_or_default();
    assert!(
        cause.contains(action) && cause.contains(role),
        "the denial names the action and the state machine's role: {refused:?}"
    );
    let deployed = deploy_revision(&clients, &unique("iam"), "app-v1.yaml", json!({})).await;
    assert_eq!(deployed.outcome(), Some("CREATED"), "{deployed:?}");
}

/// A deployment of a new stack (its input with `extra`) while `role` lacks the one statement
/// granting `action` on a resource naming `on`; the role's policy is restored before the caller
/// asserts anything.
async fn deploy_without_on(
    clients: &LocalClients,
    role: &str,
    action: &str,
    on: &str,
    extra: Value,
) -> Report {
    let (name, original) = take_grant(clients, role, action, on).await;
    let report = deploy_revision(clients, &unique("iam"), "app-v1.yaml", extra).await;
    put_policy(clients, role, &name, &original).await;
    report
}

/// Takes from `role` the one statement granting `action` on a resource naming `on`; returns the
/// policy's name and document, to put back.
async fn take_grant(
    clients: &LocalClients,
    role: &str,
    action: &str,
    on: &str,
) -> (String, String) {
    let (name, original) = policy_granting(clients, role, action, on).await;
    let mut without: Value = serde_json::from_str(&original).unwrap();
    let statements = without["Statement"].as_array_mut().unwrap();
    let before = statements.len();
    statements.retain(|s| !grants(s, action, on));
    assert_eq!(
        statements.len(),
        before - 1,
        "one statement of {role} grants {action}"
    );
    // A policy of that statement alone (SAM's LambdaInvokePolicy) goes as a whole.
    if statements.is_empty() {
        clients
            .iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(&name)
            .send()
            .await
            .unwrap();
    } else {
        put_policy(clients, role, &name, &without.to_string()).await;
    }
    (name, original)
}

/// A release refused by one unsafe stack while `stack-operation` may not delete change sets: the
/// other stack's plan is left, and the release does not count it as deleted. Its failure notice
/// names the stack, where it is and the error, for a person to delete it.
#[tokio::test]
#[ignore = "needs the local stack, alone: scripts/test.sh runs it after the other suites"]
async fn a_plan_a_release_could_not_delete_is_named_in_its_failure_notice() {
    use crate::common::{api_json, follow, template_url, Subscription};
    use hyper::Method;
    let clients = clients().await;
    let notices = Subscription::to(&clients, "NotifyTopic").await;
    let (live, fresh) = (unique("ilive"), unique("ifresh"));
    let body = json!({"environmentName": "api", "stackName": live,
                      "templateUrl": template_url(&clients, "app-v1.yaml").await});
    let created = api_json(Method::POST, "/stacks", &body, None).await;
    follow(created.body["statusUrl"].as_str().unwrap()).await;
    let manifest = json!({"environmentName": "api", "release": unique("ir"), "stacks": [
        {"stackName": fresh, "templateUrl": template_url(&clients, "app-v1.yaml").await},
        {"stackName": live, "templateUrl": template_url(&clients, "app-v3-unsafe.yaml").await}
    ]});
    let (role, action) = (
        "StackOperationFunctionRole",
        "cloudformation:DeleteChangeSet",
    );
    let (name, original) = take_grant(&clients, role, action, "").await;
    let accepted = api_json(Method::POST, "/releases", &manifest, None).await;
    let id = accepted.body["executionId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let arn = format!(
        "{}:{id}",
        stackgate_local::deploy::state_machine_arn("ReleaseStateMachine")
            .replace(":stateMachine:", ":execution:")
    );
    let ended = stackgate_local::execution::wait(&clients.sfn, &arn, crate::common::TIMEOUT).await;
    put_policy(&clients, role, &name, &original).await;
    let ended = ended.unwrap();
    assert_eq!(ended.error.as_deref(), Some("ReleaseRefused"), "{ended:?}");
    let notice = notices
        .about(&arn)
        .await
        .expect("the release's failure notice");
    let notice: Value = serde_json::from_str(&notice).unwrap();
    let message = notice["Message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("api-{fresh}")) && message.contains("AwsAccessDenied"),
        "{message}"
    );
    // The plan is indeed still there, as the notice says.
    let left = stackgate_local::demo::executable_change_sets(
        &clients.cloudformation,
        &format!("api-{fresh}"),
    )
    .await
    .unwrap_or_default();
    assert_eq!(left.len(), 1, "{left:?}");
}

fn grants(statement: &Value, action: &str, on: &str) -> bool {
    let acts = statement["Action"] == json!(action)
        || statement["Action"]
            .as_array()
            .is_some_and(|list| list.contains(&json!(action)));
    acts && statement["Resource"].to_string().contains(on)
}

/// The inline policy of the role with a statement granting `action`: (name, document).
async fn policy_granting(
    clients: &LocalClients,
    role: &str,
    action: &str,
    on: &str,
) -> (String, String) {
    let names = clients
        .iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    for name in names.policy_names() {
        let policy = clients
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .unwrap();
        // IAM answers the document URL-encoded (RFC 3986).
        let document = percent_encoding::percent_decode_str(policy.policy_document())
            .decode_utf8()
            .unwrap()
            .into_owned();
        let parsed: Value = serde_json::from_str(&document).unwrap();
        let granting = parsed["Statement"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| grants(s, action, on)));
        if granting {
            return (name.clone(), document);
        }
    }
    panic!("no inline policy of {role} grants {action}");
}

async fn put_policy(clients: &LocalClients, role: &str, name: &str, document: &str) {
    clients
        .iam
        .put_role_policy()
        .role_name(role)
        .policy_name(name)
        .policy_document(document)
        .send()
        .await
        .unwrap();
}

/// Calls the front door answers itself (Lambda invocations, CodePipeline's job results) are still
/// authorized as the caller's role: moto's decision comes first.
#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn calls_the_front_door_answers_itself_are_authorized_as_the_callers_role() {
    // wait-stack's role grants neither.
    let (status, body) = signed(
        "lambda",
        "stackgate-function-wait-stack",
        "/2015-03-31/functions/health-check/invocations",
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("lambda:InvokeFunction"), "{body}");
    let result = Some("CodePipeline_20150709.PutJobSuccessResult");
    let (status, body) = signed("codepipeline", "stackgate-function-wait-stack", "/", result).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("codepipeline:PutJobSuccessResult"), "{body}");
    // pipeline-trigger's role grants it: the front door's own answer, whatever it is, not a denial.
    let (status, body) = signed(
        "codepipeline",
        "stackgate-function-pipeline-trigger",
        "/",
        result,
    )
    .await;
    assert_ne!(status, 403, "{body}");
}

/// The managed-stack rule holds in IAM too, under the roles as the template writes them: safe
/// delete's role may not delete a stack that lacks stackgate's tag, even one named like a managed
/// environment's, and may delete one that carries it.
#[tokio::test]
#[ignore = "needs the local stack: scripts/local-stack.sh up"]
async fn a_state_machines_role_cannot_delete_a_stack_stackgate_did_not_make() {
    let clients = clients().await;
    let template = r#"{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}"#;
    let theirs = format!("e2e-{}", unique("theirs"));
    let ours = format!("e2e-{}", unique("ours"));
    for (stack, tags) in [
        (&theirs, vec![]),
        (&ours, stackgate_local::managed_tags("e2e")),
    ] {
        clients
            .cloudformation
            .create_stack()
            .stack_name(stack.as_str())
            .template_body(template)
            .set_tags(Some(tags))
            .send()
            .await
            .unwrap();
    }
    let role = "stackgate-role-SafeDeleteStateMachineRole";
    let delete = |stack: &str| format!("Action=DeleteStack&Version=2010-05-15&StackName={stack}");
    let (status, body) = signed_form("cloudformation", role, &delete(&theirs)).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("cloudformation:DeleteStack"), "{body}");
    assert!(
        crate::common::stack_status(&clients, &theirs)
            .await
            .is_some(),
        "the stack is still there"
    );
    let (status, body) = signed_form("cloudformation", role, &delete(&ours)).await;
    assert_eq!(status, 200, "{body}");
}

/// A query-protocol call signed with `key`.
async fn signed_form(service: &str, key: &str, form: &str) -> (u16, String) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261201/{}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0",
        stackgate_local::REGION
    );
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let (status, _, body) = stackgate_local::http::send(
        hyper::Method::POST,
        &format!("{}/", stackgate_local::endpoint()),
        &headers,
        form.as_bytes().to_vec(),
    )
    .await
    .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A call signed with `key` (moto does not check signatures, only whose key it is).
async fn signed(service: &str, key: &str, path: &str, target: Option<&str>) -> (u16, String) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential={key}/20261201/{}/{service}/aws4_request, \
         SignedHeaders=host, Signature=0",
        stackgate_local::REGION
    );
    let mut headers = vec![("authorization", auth.as_str())];
    // A JSON-protocol call names its operation; a Lambda invocation is a bare payload, as the SDK
    // sends it.
    if let Some(target) = target {
        headers.push(("x-amz-target", target));
        headers.push(("content-type", "application/x-amz-json-1.1"));
    }
    let (status, _, body) = stackgate_local::http::send(
        hyper::Method::POST,
        &format!("{}{path}", stackgate_local::endpoint()),
        &headers,
        br#"{"jobId": "00000000-0000-4000-8000-000000000000"}"#.to_vec(),
    )
    .await
    .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}
