//! The HTTP layer of the two HTTP functions (the stacks API and the approvals API): routing,
//! problem documents, body limits and content types, stage stripping. Resources live in the tasks;
//! nothing here knows what a stack or an approval is.

mod problem;
#[cfg(feature = "aws")]
mod response;

pub use problem::{Problem, PROBLEM_CONTENT_TYPE};
#[cfg(feature = "aws")]
pub use response::{header, json_response, paths, problem_response, query, response};

use serde_json::{Map, Value};

/// One route: a method and a path pattern whose `{name}` parts match one non-empty segment.
pub struct Route<T> {
    pub method: &'static str,
    pub pattern: &'static str,
    pub target: T,
}

/// The route a request takes and its path parameters (percent-decoded, in pattern order): an
/// unknown path is 404, a known path with another method 405 naming the allowed ones. Neither
/// repeats the path: it is the caller's input.
pub fn route<T: Copy>(
    routes: &[Route<T>],
    method: &str,
    path: &str,
) -> Result<(T, Vec<String>), Problem> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let mut allowed: Vec<&'static str> = Vec::new();
    for route in routes {
        let Some(params) = match_pattern(route.pattern, &segments) else {
            continue;
        };
        if route.method == method {
            return Ok((route.target, params));
        }
        if !allowed.contains(&route.method) {
            allowed.push(route.method);
        }
    }
    if allowed.is_empty() {
        return Err(Problem::not_found("no route for this path"));
    }
    let allow = allowed.join(", ");
    Err(Problem::method_not_allowed(
        format!("{method} is not allowed here; use {allow}"),
        allow,
    ))
}

fn match_pattern(pattern: &str, segments: &[&str]) -> Option<Vec<String>> {
    let parts: Vec<&str> = pattern.split('/').skip(1).collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            if segment.is_empty() {
                return None;
            }
            params.push(
                percent_encoding::percent_decode_str(segment)
                    .decode_utf8_lossy()
                    .into_owned(),
            );
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

/// The media type of a `Content-Type` header, lower-cased, without parameters.
pub fn media_type(content_type: Option<&str>) -> String {
    content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Checks a body's size and that it is `application/json` (415 otherwise, 413 when too large).
pub fn check_json_body(
    content_type: Option<&str>,
    body: &[u8],
    max_bytes: usize,
) -> Result<(), Problem> {
    if body.len() > max_bytes {
        return Err(Problem::new(
            413,
            "payload-too-large",
            "The request body is too large",
            format!(
                "the body is {} bytes; at most {max_bytes} are accepted",
                body.len()
            ),
        ));
    }
    if media_type(content_type) != "application/json" {
        return Err(Problem::new(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        )
        .with_field("Content-Type"));
    }
    Ok(())
}

/// A JSON object body, after `check_json_body`; the error says where the JSON broke, never what
/// it held.
pub fn json_object(
    content_type: Option<&str>,
    body: &[u8],
    max_bytes: usize,
) -> Result<Map<String, Value>, Problem> {
    check_json_body(content_type, body, max_bytes)?;
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Problem::invalid("$", "the body must be a JSON object")),
        Err(e) => Err(Problem::invalid(
            "$",
            format!("the body {}", crate::error::describe_json_error(&e)),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Target {
        List,
        Get,
        Delete,
        Result,
    }

    const ROUTES: &[Route<Target>] = &[
        Route {
            method: "POST",
            pattern: "/things",
            target: Target::List,
        },
        Route {
            method: "GET",
            pattern: "/things/{id}",
            target: Target::Get,
        },
        Route {
            method: "DELETE",
            pattern: "/things/{id}",
            target: Target::Delete,
        },
        Route {
            method: "POST",
            pattern: "/tasks/{id}/result",
            target: Target::Result,
        },
    ];

    #[test]
    fn routes_match_patterns_and_decode_parameters() {
        assert_eq!(route(ROUTES, "POST", "/things"), Ok((Target::List, vec![])));
        assert_eq!(
            route(ROUTES, "POST", "/things/"),
            Ok((Target::List, vec![]))
        );
        assert_eq!(
            route(ROUTES, "GET", "/things/a%20b"),
            Ok((Target::Get, vec!["a b".to_string()]))
        );
        assert_eq!(
            route(ROUTES, "POST", "/tasks/ab12/result"),
            Ok((Target::Result, vec!["ab12".to_string()]))
        );
        assert_eq!(route(ROUTES, "GET", "/things/a/b").unwrap_err().status, 404);
        assert_eq!(route(ROUTES, "GET", "/tasks/ab12").unwrap_err().status, 404);
        assert_eq!(
            route(ROUTES, "GET", "/other/secret-value")
                .unwrap_err()
                .status,
            404
        );
    }

    #[test]
    fn a_known_path_with_another_method_is_405_naming_the_allowed_ones() {
        let problem = route(ROUTES, "PUT", "/things/secret-value").unwrap_err();
        assert_eq!(problem.status, 405);
        assert_eq!(problem.allow.as_deref(), Some("GET, DELETE"));
        assert!(
            !problem.detail.contains("secret-value"),
            "{}",
            problem.detail
        );
        let missing = route(ROUTES, "GET", "/nothing/secret-value").unwrap_err();
        assert!(
            !missing.detail.contains("secret-value"),
            "{}",
            missing.detail
        );
    }

    #[test]
    fn bodies_are_checked_for_size_type_and_json() {
        let json = Some("application/json; charset=utf-8");
        assert!(json_object(json, br#"{"a":1}"#, 64).is_ok());
        assert_eq!(json_object(json, &[b' '; 65], 64).unwrap_err().status, 413);
        let wrong_type = json_object(Some("text/plain"), b"{}", 64).unwrap_err();
        assert_eq!(
            (wrong_type.status, wrong_type.field.as_deref()),
            (415, Some("Content-Type"))
        );
        assert_eq!(json_object(None, b"{}", 64).unwrap_err().status, 415);
        let not_object = json_object(json, b"[1]", 64).unwrap_err();
        assert_eq!(
            (not_object.status, not_object.field.as_deref()),
            (400, Some("$"))
        );
        let broken = json_object(json, br#"{"password": "hunter2"#, 64).unwrap_err();
        assert_eq!(broken.status, 400);
        assert!(!broken.detail.contains("hunter2"), "{}", broken.detail);
    }
}
