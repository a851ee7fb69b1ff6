//! IAM enforced on the local stack: each function runs under its own role, created from the template
//! as SAM expands it, so a grant taken from that role shows end to end as the AccessDenied AWS would
//! answer. Run on its own (`scripts/test.sh`): it changes a role every other test relies on.

use serde_json::{json, Value};
use stackgate_local::unique_name as unique;

use crate::common::{assert_failed_with, clients, deploy_revision};

const ROLE: &str = "CreateChangeSetFunctionRole";
const ACTION: &str = "cloudformation:CreateChangeSet";

#[tokio::test]
#[ignore = "needs the local stack, alone: scripts/test.sh runs it after the other suites"]
async fn a_function_without_one_grant_fails_with_access_denied_and_deploys_with_it() {
    let clients = clients().await;
    let (name, original) = policy_granting(&clients, ACTION).await;
    let mut without: Value = serde_json::from_str(&original).unwrap();
    let statements = without["Statement"].as_array_mut().unwrap();
    let before = statements.len();
    statements.retain(|s| s["Action"] != json!(ACTION));
    assert_eq!(
        statements.len(),
        before - 1,
        "one statement grants {ACTION}"
    );
    put_policy(&clients, &name, &without.to_string()).await;

    let refused = deploy_revision(&clients, &unique("iam"), "app-v1.yaml", json!({})).await;
    // Restored before any assertion, so that a failure here leaves the role as the template says.
    put_policy(&clients, &name, &original).await;
    assert_failed_with(&refused, "AwsAccessDenied", ACTION);
    assert!(
        refused.cause.as_deref().unwrap_or_default().contains(ROLE),
        "the denial names the function's role: {refused:?}"
    );

    let deployed = deploy_revision(&clients, &unique("iam"), "app-v1.yaml", json!({})).await;
    assert_eq!(deployed.outcome(), Some("CREATED"), "{deployed:?}");
}

/// The inline policy of the role with a statement granting exactly `action`: (name, document).
async fn policy_granting(
    clients: &stackgate_local::LocalClients,
    action: &str,
) -> (String, String) {
    let names = clients
        .iam
        .list_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    for name in names.policy_names() {
        let policy = clients
            .iam
            .get_role_policy()
            .role_name(ROLE)
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
        let grants = parsed["Statement"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["Action"] == json!(action)));
        if grants {
            return (name.clone(), document);
        }
    }
    panic!("no inline policy of {ROLE} grants {action}");
}

async fn put_policy(clients: &stackgate_local::LocalClients, name: &str, document: &str) {
    clients
        .iam
        .put_role_policy()
        .role_name(ROLE)
        .policy_name(name)
        .policy_document(document)
        .send()
        .await
        .unwrap();
}
