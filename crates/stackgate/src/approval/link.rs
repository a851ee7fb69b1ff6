//! Signed links: the credential of people and external jobs who answer a waiting workflow.
//!
//! Each kind of link is its own signature domain (a decision link is worthless on the job-result
//! route and the other way round), every link is signed for one recipient (who decided is known, not
//! typed in), and links name the key version that signed them, so that a rotated key keeps the
//! links already sent working until they expire while a key older than the previous one does not.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::TaskError;

type HmacSha256 = Hmac<Sha256>;

/// The recipient every job-result link is signed for: the job the webhook started.
pub const JOB_RECIPIENT: &str = "external job";
/// Longest recipient (an email address) a link is signed for.
const MAX_RECIPIENT: usize = 254;

/// An HMAC key that derives approval ids and signs links (kept in SSM as a SecureString). `id` is
/// its version, carried by every link it signs.
#[derive(Clone)]
pub struct SigningKey {
    id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({}, ..)", self.id)
    }
}

impl SigningKey {
    /// A key of version "1" (tests, and keys that are not versioned).
    pub fn new(secret: &str) -> Result<Self, TaskError> {
        SigningKey::with_id("1", secret)
    }

    pub fn with_id(id: impl Into<String>, secret: &str) -> Result<Self, TaskError> {
        if secret.trim().len() < 32 {
            return Err(TaskError::invalid(
                "signingKey",
                "the approval signing key must be at least 32 characters",
            ));
        }
        Ok(SigningKey {
            id: id.into(),
            secret: secret.trim().as_bytes().to_vec(),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self, parts: &[&str]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac
    }

    fn hex(&self, parts: &[&str], bytes: usize) -> String {
        self.mac(parts)
            .finalize()
            .into_bytes()
            .iter()
            .take(bytes)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The keys links are checked against: the current one signs; the previous one still verifies, so
/// that links sent before a rotation work until they expire.
#[derive(Debug, Clone)]
pub struct KeyRing {
    pub current: SigningKey,
    pub previous: Option<SigningKey>,
}

impl KeyRing {
    pub fn single(key: SigningKey) -> Self {
        KeyRing {
            current: key,
            previous: None,
        }
    }

    /// The key of a version, if it is one of the two accepted.
    pub fn find(&self, id: &str) -> Option<&SigningKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == id)
    }
}

/// What a link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Approve or reject a deployment or a manual task (`/approvals/{id}`).
    Decision,
    /// Report an external job's result (`/tasks/{id}/result`).
    JobResult,
}

impl LinkKind {
    fn domain(self) -> &'static str {
        match self {
            LinkKind::Decision => "stackgate decision link",
            LinkKind::JobResult => "stackgate job-result link",
        }
    }

    /// Whether a stored request of `request_kind` is answered through links of this kind.
    pub fn serves(self, request_kind: super::ApprovalKind) -> bool {
        use super::ApprovalKind::*;
        match (self, request_kind) {
            (LinkKind::Decision, Deployment | Deletion | ManualTask | Release) => true,
            (LinkKind::JobResult, ExternalJob) => true,
            (LinkKind::Decision, ExternalJob) => false,
            (LinkKind::JobResult, Deployment | Deletion | ManualTask | Release) => false,
        }
    }
}

/// The opaque id of the approval for a task token: not guessable, and the same for a retried
/// invocation with the same token and key.
pub fn approval_id(key: &SigningKey, task_token: &str) -> String {
    key.hex(&["approval-id", task_token], 16)
}

/// The signature of a link of `kind` to approval `id`, expiring at `expires_at`, for `recipient`.
pub fn link_signature(
    key: &SigningKey,
    kind: LinkKind,
    id: &str,
    expires_at: u64,
    recipient: &str,
) -> String {
    key.hex(
        &[
            kind.domain(),
            &key.id,
            id,
            &expires_at.to_string(),
            recipient,
        ],
        32,
    )
}

fn query_value(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The link in an approver's email: the approval page, for that approver, never the token.
pub fn approval_link(
    base_url: &str,
    key: &SigningKey,
    id: &str,
    expires_at: u64,
    recipient: &str,
) -> String {
    format!(
        "{}/approvals/{id}?exp={expires_at}&to={}&kid={}&sig={}",
        base_url.trim_end_matches('/'),
        query_value(recipient),
        query_value(&key.id),
        link_signature(key, LinkKind::Decision, id, expires_at, recipient)
    )
}

/// Where an external job reports its result.
pub fn callback_link(base_url: &str, key: &SigningKey, id: &str, expires_at: u64) -> String {
    format!(
        "{}/tasks/{id}/result?exp={expires_at}&kid={}&sig={}",
        base_url.trim_end_matches('/'),
        query_value(&key.id),
        link_signature(key, LinkKind::JobResult, id, expires_at, JOB_RECIPIENT)
    )
}

/// A link's parts as presented (query string or form), not yet trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PresentedLink {
    pub exp: String,
    pub kid: String,
    /// The recipient; job-result links are always the job's.
    pub to: String,
    pub sig: String,
}

/// Checks a presented link of `kind` against the key it names, in constant time. On success, the
/// recipient it was signed for: who is deciding.
pub fn verify_link(
    keys: &KeyRing,
    kind: LinkKind,
    id: &str,
    link: &PresentedLink,
) -> Option<String> {
    let key = keys.find(&link.kid)?;
    let expected = decode_hex(&link.sig).ok()?;
    let expires_at = link.exp.parse::<u64>().ok()?;
    let recipient = match kind {
        LinkKind::JobResult => JOB_RECIPIENT,
        LinkKind::Decision => link.to.as_str(),
    };
    if recipient.is_empty()
        || recipient.len() > MAX_RECIPIENT
        || recipient.chars().any(char::is_control)
        || expected.len() != 32
    {
        return None;
    }
    key.mac(&[
        kind.domain(),
        &key.id,
        id,
        &expires_at.to_string(),
        recipient,
    ])
    .verify_truncated_left(&expected)
    .ok()
    .map(|()| recipient.to_string())
}

fn decode_hex(text: &str) -> Result<Vec<u8>, ()> {
    // ASCII only: slicing below must never split a multi-byte character (a forged link can hold any).
    if !text.is_ascii() || !text.len().is_multiple_of(2) || text.len() > 128 {
        return Err(());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|_| ()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "AAAAKgAAAAIAAAAAAAAAAfake+task/token==";

    fn key() -> SigningKey {
        SigningKey::new("0123456789abcdef0123456789abcdef-test-key").unwrap()
    }

    fn presented(link: &str) -> PresentedLink {
        let query = link.split_once('?').unwrap().1;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        PresentedLink {
            exp: get("exp"),
            kid: get("kid"),
            to: get("to"),
            sig: get("sig"),
        }
    }

    #[test]
    fn ids_hide_the_token_and_are_stable() {
        let id = approval_id(&key(), TOKEN);
        assert_eq!(id, approval_id(&key(), TOKEN));
        assert_eq!(id.len(), 32);
        assert!(!id.contains("AAAA"));
        assert_ne!(id, approval_id(&key(), "another-token"));
        let other_key = SigningKey::new("another key that is long enough to be used!").unwrap();
        assert_ne!(id, approval_id(&other_key, TOKEN));
        assert!(SigningKey::new("short").is_err());
        assert_eq!(format!("{:?}", key()), "SigningKey(1, ..)");
    }

    #[test]
    fn a_link_verifies_for_its_recipient_only() {
        let keys = KeyRing::single(key());
        let id = approval_id(&keys.current, TOKEN);
        let link = approval_link(
            "https://api.example/v1/",
            &keys.current,
            &id,
            1_900_000_000,
            "ana@example.com",
        );
        assert!(link.starts_with(&format!(
            "https://api.example/v1/approvals/{id}?exp=1900000000&to=ana%40example%2Ecom&kid=1&sig="
        )));
        assert!(!link.contains(TOKEN));
        let good = presented(&link);
        assert_eq!(
            verify_link(&keys, LinkKind::Decision, &id, &good).as_deref(),
            Some("ana@example.com")
        );
        let tampered = |f: &dyn Fn(&mut PresentedLink)| {
            let mut link = good.clone();
            f(&mut link);
            verify_link(&keys, LinkKind::Decision, &id, &link)
        };
        assert_eq!(
            tampered(&|l| l.to = "cto@example.com".into()),
            None,
            "another recipient"
        );
        assert_eq!(tampered(&|l| l.to = String::new()), None, "no recipient");
        assert_eq!(
            tampered(&|l| l.exp = "1900000001".into()),
            None,
            "extended expiry"
        );
        assert_eq!(tampered(&|l| l.exp = "soon".into()), None);
        assert_eq!(
            tampered(&|l| l.kid = "2".into()),
            None,
            "another key version"
        );
        assert_eq!(tampered(&|l| l.sig.truncate(62)), None, "truncated");
        assert_eq!(tampered(&|l| l.sig = "zz".into()), None, "not hex");
        assert_eq!(
            verify_link(&keys, LinkKind::Decision, "0000", &good),
            None,
            "other id"
        );
        let other = KeyRing::single(
            SigningKey::new("another key that is long enough to be used!").unwrap(),
        );
        assert_eq!(verify_link(&other, LinkKind::Decision, &id, &good), None);
    }

    #[test]
    fn a_link_of_one_kind_is_worthless_as_the_other() {
        let keys = KeyRing::single(key());
        let id = approval_id(&keys.current, TOKEN);
        let decision = presented(&approval_link(
            "https://x",
            &keys.current,
            &id,
            1_900_000_000,
            JOB_RECIPIENT,
        ));
        assert_eq!(
            verify_link(&keys, LinkKind::JobResult, &id, &decision),
            None
        );
        let job = presented(&callback_link(
            "https://x",
            &keys.current,
            &id,
            1_900_000_000,
        ));
        assert_eq!(
            verify_link(&keys, LinkKind::JobResult, &id, &job).as_deref(),
            Some(JOB_RECIPIENT)
        );
        let mut as_decision = job.clone();
        as_decision.to = JOB_RECIPIENT.into();
        assert_eq!(
            verify_link(&keys, LinkKind::Decision, &id, &as_decision),
            None
        );
        use super::super::ApprovalKind::*;
        for kind in [Deployment, Deletion, ManualTask, Release] {
            assert!(LinkKind::Decision.serves(kind) && !LinkKind::JobResult.serves(kind));
        }
        assert!(!LinkKind::Decision.serves(ExternalJob));
        assert!(LinkKind::JobResult.serves(ExternalJob));
    }

    #[test]
    fn links_signed_before_a_rotation_verify_until_the_next_one() {
        let v1 = SigningKey::with_id("1", "the first signing key, at least 32 characters").unwrap();
        let v2 =
            SigningKey::with_id("2", "the second signing key, at least 32 characters").unwrap();
        let v3 =
            SigningKey::with_id("3", "the third signing key, at least 32 characters!").unwrap();
        let old = presented(&approval_link(
            "https://x",
            &v1,
            "ab",
            1_900_000_000,
            "ana@example.com",
        ));
        let after_one = KeyRing {
            current: v2.clone(),
            previous: Some(v1),
        };
        assert!(verify_link(&after_one, LinkKind::Decision, "ab", &old).is_some());
        let after_two = KeyRing {
            current: v3,
            previous: Some(v2),
        };
        assert_eq!(
            verify_link(&after_two, LinkKind::Decision, "ab", &old),
            None
        );
    }

    #[test]
    fn forged_signatures_with_any_characters_are_refused_not_panicked_on() {
        let keys = KeyRing::single(key());
        for sig in ["lᤶ𑵧꠸Ѩ᠋$Øtk^,=🂱", "é1", "zz", "0", &"ab".repeat(100)] {
            let link = PresentedLink {
                exp: "99999999999".into(),
                kid: "1".into(),
                to: "a@b.c".into(),
                sig: sig.into(),
            };
            assert_eq!(
                verify_link(&keys, LinkKind::Decision, "id", &link),
                None,
                "{sig}"
            );
        }
    }
}
