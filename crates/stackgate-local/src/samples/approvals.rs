//! Approval samples made to work: a pending approval stored and a decision link to it signed
//! with the local stack's key, and a sample page event pointed at it.

use serde_json::{json, Value};
use stackgate::approval::{self, SigningKey, Status, StoredApproval};

use crate::{BoxError, LocalClients};

/// A link to a pending approval: its id and the query that signs it.
#[derive(Debug, Clone)]
pub struct SignedLink {
    pub id: String,
    pub expires_at: String,
    pub key_id: String,
    pub recipient: String,
    pub signature: String,
}

/// Stores a pending manual-task approval and signs a decision link to it for the local approver,
/// valid for a day, with the local stack's signing key.
pub async fn pending_approval(clients: &LocalClients, table: &str) -> Result<SignedLink, BoxError> {
    let (secret, version) = stackgate::aws::ssm::secure_string_version(
        &clients.ssm,
        crate::deploy::SIGNING_KEY_PARAMETER,
    )
    .await
    .map_err(|e| format!("reading the signing key: {e}"))?
    .ok_or("the signing key parameter is missing")?;
    let key = SigningKey::with_id(version.to_string(), &secret)?;
    let token = crate::unique_name("sample-task-token-");
    let id = approval::approval_id(&key, &token);
    let expires_at = approval::now() + 24 * 3600;
    let stored = StoredApproval {
        id: id.clone(),
        status: Status::Pending,
        created_at: approval::now(),
        expires_at,
        request: serde_json::from_value(
            json!({"kind": "manualTask", "taskName": "sample: confirm the sample"}),
        )?,
        decided_by: None,
        decided_at: None,
        comment: None,
        execution_arn: None,
    };
    stackgate::aws::dynamodb::put_approval(&clients.dynamodb, table, &stored, &token)
        .await
        .map_err(|e| format!("storing an approval: {e}"))?;
    let recipient = crate::deploy::APPROVER.to_string();
    let signature = approval::link_signature(
        &key,
        approval::LinkKind::Decision,
        &id,
        expires_at,
        &recipient,
    );
    Ok(SignedLink {
        id,
        expires_at: expires_at.to_string(),
        key_id: key.id().to_string(),
        recipient,
        signature,
    })
}

/// Points an approval page event at `link`: its path, path parameter and signed parts (in the query
/// of a page view, in the form of a decision, which keeps its decision and comment).
pub fn point_at(event: &mut Value, link: &SignedLink) {
    let id = &link.id;
    event["path"] = Value::String(format!("/approvals/{id}"));
    if let Some(context) = event
        .get_mut("requestContext")
        .and_then(Value::as_object_mut)
    {
        context.insert("path".into(), Value::String(format!("/v1/approvals/{id}")));
    }
    event["pathParameters"] = json!({"id": id});
    let (exp, kid, to, sig) = (
        &link.expires_at,
        &link.key_id,
        &link.recipient,
        &link.signature,
    );
    // A decision is POSTed as a form that carries the link's signed parts; a page view, in the query.
    let form = event
        .get("body")
        .and_then(Value::as_str)
        .filter(|body| body.contains("sig="))
        .map(str::to_string);
    match form {
        Some(form) => {
            let kept = form.split('&').filter(|pair| {
                !["exp=", "kid=", "to=", "sig="]
                    .iter()
                    .any(|p| pair.starts_with(p))
            });
            let signed = [
                format!("exp={exp}"),
                format!("kid={kid}"),
                format!("to={}", to.replace('@', "%40")),
                format!("sig={sig}"),
            ];
            let body = signed
                .into_iter()
                .chain(kept.map(str::to_string))
                .collect::<Vec<_>>();
            event["body"] = Value::String(body.join("&"));
        }
        None => {
            event["queryStringParameters"] = json!({"exp": exp, "kid": kid, "to": to, "sig": sig});
            event["multiValueQueryStringParameters"] =
                json!({"exp": [exp], "kid": [kid], "to": [to], "sig": [sig]});
        }
    }
}
