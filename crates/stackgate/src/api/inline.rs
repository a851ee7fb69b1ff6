//! Inline templates (`templateBody`), an operator option (`InlineTemplates`, off by default): the
//! API keeps the body in the staging bucket under its SHA-256 and the request names that object,
//! so the workflow's input never holds a template, and the plan step reads it as any S3 template.

use serde_json::{json, Map, Value};

use super::Problem;
use crate::guardrails::{inline_key, Guardrails};
use crate::template::MAX_TEMPLATE_SIZE;

pub const FIELD: &str = "templateBody";

/// The fields that name a template; `templateBody` takes the place of all of them.
const SOURCE_FIELDS: [&str; 3] = ["templateUrl", "templateS3Bucket", "templateS3Key"];

/// A template the API stores before it starts anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineTemplate {
    pub bucket: String,
    pub key: String,
    pub body: String,
}

/// Takes `templateBody` out of a request and names, in its place, the object it will be stored
/// as. `None`: the request names its template another way. Refused, by field and never with its
/// text: inline templates off, a body that is not a template's text, or a second source.
pub fn take(
    body: &mut Map<String, Value>,
    guardrails: &Guardrails,
) -> Result<Option<InlineTemplate>, Problem> {
    let Some(value) = body.remove(FIELD) else {
        return Ok(None);
    };
    let Some(bucket) = guardrails.inline_bucket.clone() else {
        return Err(Problem::invalid(
            FIELD,
            "inline templates are off here (the operator's InlineTemplates setting): upload the template to an allowed bucket and give templateS3Bucket+templateS3Key or templateUrl",
        ));
    };
    if SOURCE_FIELDS.iter().any(|f| body.contains_key(*f)) {
        return Err(Problem::invalid(
            FIELD,
            "give exactly one template source: templateBody, templateUrl, or templateS3Bucket+templateS3Key",
        ));
    }
    let text = match value {
        Value::String(text) if !text.trim().is_empty() => text,
        _ => {
            return Err(Problem::invalid(
                FIELD,
                "must be the template's text (JSON or YAML), not empty",
            ))
        }
    };
    if text.len() as u64 > MAX_TEMPLATE_SIZE {
        return Err(Problem::invalid(
            FIELD,
            format!("is larger than CloudFormation's {MAX_TEMPLATE_SIZE}-byte template limit"),
        ));
    }
    let key = inline_key(&text);
    body.insert("templateS3Bucket".into(), json!(bucket));
    body.insert("templateS3Key".into(), json!(key));
    Ok(Some(InlineTemplate {
        bucket,
        key,
        body: text,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::{body, config};

    fn on() -> Guardrails {
        config().guardrails.with_inline_templates("staging".into())
    }

    #[test]
    fn a_body_becomes_the_object_it_is_stored_as() {
        let mut request = body(json!({"environmentName": "dev", "stackName": "app",
                                      "templateBody": "Resources: {}\n"}));
        let inline = take(&mut request, &on()).unwrap().unwrap();
        assert_eq!(inline.bucket, "staging");
        assert_eq!(inline.key, inline_key("Resources: {}\n"));
        assert_eq!(inline.body, "Resources: {}\n");
        assert!(!request.contains_key(FIELD));
        assert_eq!(request["templateS3Bucket"], "staging");
        assert_eq!(request["templateS3Key"], json!(inline.key));
        // The same body, the same object: a replayed request is the same request.
        let mut again = body(json!({"templateBody": "Resources: {}\n"}));
        assert_eq!(take(&mut again, &on()).unwrap().unwrap().key, inline.key);
        // No templateBody: nothing taken, nothing changed.
        let mut url = body(json!({"templateUrl": "https://templates.s3.amazonaws.com/a"}));
        assert_eq!(take(&mut url, &on()).unwrap(), None);
        assert_eq!(url.len(), 1);
    }

    #[test]
    fn refusals_name_the_field_and_never_repeat_the_body() {
        let secret = "Resources: {} # hunter2-in-a-template";
        let off = config().guardrails;
        let big = "x".repeat(MAX_TEMPLATE_SIZE as usize + 1);
        let cases = [
            (json!({"templateBody": secret}), &off),
            (
                json!({"templateBody": secret, "templateUrl": "https://templates.s3.amazonaws.com/a"}),
                &on(),
            ),
            (json!({"templateBody": secret, "templateS3Key": "a"}), &on()),
            (json!({"templateBody": "  \n"}), &on()),
            (json!({"templateBody": {"Resources": {}}}), &on()),
            (json!({"templateBody": big}), &on()),
        ];
        for (request, rails) in cases {
            let problem = take(&mut body(request.clone()), rails).unwrap_err();
            assert_eq!(
                (problem.status, problem.field.as_deref()),
                (400, Some(FIELD))
            );
            assert!(!problem.detail.contains("hunter2"), "{}", problem.detail);
        }
    }
}
