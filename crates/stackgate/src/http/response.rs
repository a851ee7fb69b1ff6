//! Requests in and responses out, through lambda_http.

use lambda_http::http::header::{HeaderValue, CONTENT_TYPE};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};

use super::{Problem, PROBLEM_CONTENT_TYPE};

/// A response with a body of the given type.
pub fn response(status: u16, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or_default();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub fn json_response(status: u16, body: &Value) -> Response<Body> {
    response(status, "application/json", body.to_string())
}

/// A problem document, with `Allow` on a 405.
pub fn problem_response(problem: &Problem) -> Response<Body> {
    let body = serde_json::to_value(problem).unwrap_or_else(|_| json!({"status": problem.status}));
    let mut response = response(problem.status, PROBLEM_CONTENT_TYPE, body.to_string());
    if let Some(allow) = problem.allow.as_deref().and_then(|a| a.parse().ok()) {
        response.headers_mut().insert("allow", allow);
    }
    response
}

/// The request's path under the API (without the stage) and the prefix to build URLs with (the
/// stage, when API Gateway put one in front).
pub fn paths(request: &Request) -> (String, String) {
    let raw = request.raw_http_path();
    let raw = if raw.is_empty() {
        request.uri().path()
    } else {
        raw
    }
    .to_string();
    let base = request
        .uri()
        .path()
        .strip_suffix(raw.as_str())
        .unwrap_or_default()
        .to_string();
    (raw, base)
}

pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

pub fn query(request: &Request, name: &str) -> Option<String> {
    request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_string)
}
