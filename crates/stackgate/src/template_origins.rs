//! Where the parts of a template come from. A template from an allowed bucket may still pull text
//! from elsewhere: a nested stack's or a stack set's `TemplateURL`, and an `AWS::Include`
//! transform's `Location`. Both are held to the buckets the operator allowed for templates
//! (guarantee 1), so that an allowed template cannot pass the allow-list on to a bucket of
//! anybody's choosing. (Types that load templates in other ways, such as Service Catalog products
//! and registered modules, are security-sensitive: a person decides.)
//!
//! A nested stack is judged from the change set (the `TemplateURL` CloudFormation will read, with
//! parameters and conditions resolved); an include from the template's text as written, where a
//! `Location` that is not plainly an `s3://` URI of an allowed bucket is refused.

use serde_json::Value;

use crate::guardrails::Guardrails;
use crate::policy::{ResourceChange, TemplateRef};
use crate::TaskError;

const INCLUDE: &str = "aws::include";

/// Every nested stack or stack set the change set adds or updates reads its template from an
/// allowed bucket (or, for a stack set, holds it); otherwise the error names the resource (its
/// logical ids), never the URL.
pub fn check_nested_stacks(
    guardrails: &Guardrails,
    changes: &[ResourceChange],
) -> Result<(), TaskError> {
    for change in changes {
        if change.action == "Remove" {
            continue;
        }
        let allowed = match &change.template {
            None | Some(TemplateRef::Inline) => true,
            Some(TemplateRef::Unknown) => false,
            Some(TemplateRef::Url(url)) => crate::s3_url::parse(url, &guardrails.path_style_hosts)
                .is_ok_and(|object| guardrails.allows_nested_template(&object.bucket)),
        };
        if !allowed {
            let mut path = change.nested_path.clone();
            path.push(change.logical_resource_id.clone());
            return Err(TaskError::InvalidTemplate(format!(
                "{} {} reads its template (TemplateURL) from outside the buckets the operator allowed for templates ({}), or from a URL not known before it executes",
                if change.resource_type == "AWS::CloudFormation::StackSet" { "stack set" } else { "nested stack" },
                path.join("/"),
                guardrails.nested_template_buckets().join(", ")
            )));
        }
    }
    Ok(())
}

/// Every `AWS::Include` in a template (as JSON, short forms read as long ones) names a `Location`
/// written out as `s3://<allowed bucket>/<key>`.
pub fn check_includes(guardrails: &Guardrails, template: &Value) -> Result<(), TaskError> {
    let refused = || {
        TaskError::InvalidTemplate(format!(
            "an AWS::Include transform reads from outside the buckets the operator allowed for templates ({}), or its Location is not written out as s3://bucket/key",
            guardrails.nested_template_buckets().join(", ")
        ))
    };
    let mut locations = Vec::new();
    if let Some(declared) = template.get("Transform") {
        transforms(declared, &mut locations);
    }
    if !includes(template, &mut locations) {
        return Err(refused());
    }
    for location in locations {
        let allowed = location
            .and_then(s3_uri_bucket)
            .is_some_and(|bucket| guardrails.allows_nested_template(bucket));
        if !allowed {
            return Err(refused());
        }
    }
    Ok(())
}

/// The `Location` of every `AWS::Include` under `Fn::Transform`, wherever it is (`None`: not a
/// plain string). `false` when a key could become `Fn::Transform` only later (`Fn::ForEach` of
/// `AWS::LanguageExtensions` writes keys such as `Fn::${Name}`), which is not read here.
fn includes<'a>(value: &'a Value, into: &mut Vec<Option<&'a str>>) -> bool {
    match value {
        Value::Object(map) => map.iter().all(|(key, inner)| {
            if key == "Fn::Transform" {
                transforms(inner, into);
            }
            !(key.starts_with("Fn::") && key.contains("${")) && includes(inner, into)
        }),
        Value::Array(items) => items.iter().all(|item| includes(item, into)),
        _ => true,
    }
}

/// The includes among the transforms a top-level `Transform` (a name, a list, or an object) or an
/// `Fn::Transform` declares. A name alone (`Transform: AWS::Include`) has no location, which
/// counts as not plain.
fn transforms<'a>(value: &'a Value, into: &mut Vec<Option<&'a str>>) {
    let is_include = |name: &str| name.trim().eq_ignore_ascii_case(INCLUDE);
    match value {
        Value::String(name) if is_include(name) => into.push(None),
        Value::Array(items) => items.iter().for_each(|item| transforms(item, into)),
        Value::Object(map) => match map.get("Name") {
            Some(Value::String(name)) if is_include(name) => into.push(
                map.get("Parameters")
                    .and_then(|p| p.get("Location"))
                    .and_then(Value::as_str),
            ),
            Some(Value::String(_)) => {}
            // A transform whose name is not a plain string may be an include.
            _ => into.push(None),
        },
        _ => {}
    }
}

/// The bucket of `s3://bucket/key` written out plainly: no intrinsic, no other scheme, and no key a
/// reader could resolve elsewhere (dot segments, a query, a fragment, escapes, spaces).
fn s3_uri_bucket(uri: &str) -> Option<&str> {
    let (bucket, key) = uri.strip_prefix("s3://")?.split_once('/')?;
    let plain_key = !key.is_empty()
        && !key
            .split('/')
            .any(|segment| segment == "." || segment == "..")
        && !key
            .chars()
            .any(|c| matches!(c, '?' | '#' | '%' | '\\') || c.is_whitespace() || c.is_control());
    (crate::s3_url::valid_bucket_name(bucket) && plain_key).then_some(bucket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn guardrails() -> Guardrails {
        Guardrails::new(
            vec!["dev".into()],
            vec!["templates".into()],
            Some("artifacts".into()),
            vec![],
            vec![],
        )
        .unwrap()
        .with_inline_templates("staging".into())
    }

    fn nested(template: Option<TemplateRef>, action: &str) -> ResourceChange {
        ResourceChange {
            action: action.into(),
            logical_resource_id: "Network".into(),
            resource_type: "AWS::CloudFormation::Stack".into(),
            nested_path: vec!["App".into()],
            template,
            ..ResourceChange::default()
        }
    }

    fn url(text: &str) -> Option<TemplateRef> {
        Some(TemplateRef::Url(text.into()))
    }

    #[test]
    fn a_nested_stack_reads_its_template_only_from_an_allowed_bucket() {
        let rails = guardrails();
        for allowed in [
            "https://templates.s3.amazonaws.com/network.yaml",
            "https://s3.eu-west-1.amazonaws.com/artifacts/build/network.yaml",
        ] {
            for action in ["Add", "Modify", "Dynamic"] {
                assert_eq!(
                    check_nested_stacks(&rails, &[nested(url(allowed), action)]),
                    Ok(())
                );
            }
        }
        for template in [
            url("https://elsewhere.s3.amazonaws.com/network.yaml"),
            // The staging bucket's inline templates are for the API's own use.
            url("https://staging.s3.amazonaws.com/inline/0000"),
            url("https://elsewhere.s3.amazonaws.com/t.yaml?X-Amz-Signature=planted"),
            url("https://templates.s3.amazonaws.com/network.yaml?versionId=1"),
            url("https://templates.s3.amazonaws.com.evil.example/network.yaml"),
            url("s3://templates/network.yaml"),
            url("{{changeSet:KNOWN_AFTER_APPLY}}"),
            Some(TemplateRef::Unknown),
        ] {
            let error = check_nested_stacks(&rails, &[nested(template, "Modify")]).unwrap_err();
            let text = error.to_string();
            assert!(text.contains("nested stack App/Network"), "{text}");
            assert!(text.contains("templates, artifacts"), "{text}");
            assert!(
                !text.contains("planted") && !text.contains("elsewhere"),
                "{text}"
            );
        }
        // A nested stack taken out reads nothing; other types have no template.
        let removed = nested(Some(TemplateRef::Unknown), "Remove");
        assert_eq!(check_nested_stacks(&rails, &[removed]), Ok(()));
        let bucket = ResourceChange {
            resource_type: "AWS::S3::Bucket".into(),
            ..nested(None, "Add")
        };
        assert_eq!(check_nested_stacks(&rails, &[bucket]), Ok(()));
        // A stack set holds its template, or reads it from an allowed bucket like a nested stack.
        let stack_set = |template| ResourceChange {
            resource_type: "AWS::CloudFormation::StackSet".into(),
            ..nested(template, "Add")
        };
        assert_eq!(
            check_nested_stacks(&rails, &[stack_set(Some(TemplateRef::Inline))]),
            Ok(())
        );
        let error = check_nested_stacks(
            &rails,
            &[stack_set(url("https://elsewhere.s3.amazonaws.com/t.yaml"))],
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("stack set App/Network"),
            "{error}"
        );
    }

    #[test]
    fn an_include_reads_only_a_written_out_location_in_an_allowed_bucket() {
        let rails = guardrails();
        let include =
            |location: Value| json!({"Name": "AWS::Include", "Parameters": {"Location": location}});
        let allowed = json!({
            "Transform": ["AWS::Serverless-2016-10-31", include(json!("s3://templates/top.yaml"))],
            "Resources": {"Topic": {"Type": "AWS::SNS::Topic",
                "Properties": {"Fn::Transform": include(json!("s3://artifacts/props.yaml"))}}},
        });
        assert_eq!(check_includes(&rails, &allowed), Ok(()));
        assert_eq!(
            check_includes(&rails, &json!({"Transform": "AWS::Serverless-2016-10-31"})),
            Ok(())
        );
        // A resource may be called Transform; a macro the account has is not an include.
        let named = json!({"Resources": {"Transform": {"Type": "AWS::SNS::Topic"}},
            "Outputs": {"Fn::Transform": {"Name": "OurMacro"}}});
        assert_eq!(check_includes(&rails, &named), Ok(()));
        for template in [
            json!({"Resources": {"Fn::Transform": include(json!("s3://elsewhere/r.yaml"))}}),
            json!({"Transform": include(json!("s3://templates"))}),
            json!({"Transform": include(json!("s3://templates/../elsewhere/r.yaml"))}),
            json!({"Transform": include(json!("s3://templates/r.yaml?versionId=1"))}),
            json!({"Transform": include(json!("s3://templates/a%2F..%2Fb"))}),
            json!({"Transform": include(json!("https://templates.s3.amazonaws.com/r.yaml"))}),
            json!({"Transform": include(json!({"Fn::Sub": "s3://${Bucket}/r.yaml"}))}),
            json!({"Mappings": {"Fn::Transform": include(json!({"Ref": "Location"}))}}),
            json!({"Transform": "AWS::Include"}),
            json!({"Transform": {"Name": " aws::include ", "Parameters": {"Location": "s3://elsewhere/r"}}}),
            json!({"Transform": [{"Name": {"Ref": "Which"}, "Parameters": {"Location": "s3://elsewhere/r"}}]}),
            json!({"Outputs": [{"Fn::Transform": {"Name": "AWS::Include"}}]}),
            json!({"Resources": {"Fn::ForEach::Topics": ["T", ["Transform"], {"Fn::${T}": include(json!("s3://elsewhere/r"))}]}}),
        ] {
            let text = check_includes(&rails, &template).unwrap_err().to_string();
            assert!(text.contains("AWS::Include"), "{text}");
            assert!(!text.contains("elsewhere"), "{text}");
        }
    }
}
