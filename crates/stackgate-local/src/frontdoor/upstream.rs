//! Passing a call on, to moto or to `cargo lambda watch`, unless IAM denies it or an injected
//! fault answers it (or loses its answer).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, HOST};
use hyper::{Request, Response, StatusCode};

use super::{text, State};
use crate::faults::{self, Call, Kind};

pub(super) async fn forward(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: Bytes,
    base: &str,
    path_and_query: &str,
) -> Result<(StatusCode, hyper::HeaderMap, Bytes), String> {
    let uri: hyper::Uri = format!("http://{base}{path_and_query}")
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
    let mut outgoing = Request::builder().method(parts.method.clone()).uri(uri);
    for (name, value) in parts.headers.iter() {
        if name != HOST && name != CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    let outgoing = outgoing.body(Full::new(body)).map_err(|e| e.to_string())?;
    let response = state
        .client
        .request(outgoing)
        .await
        .map_err(|e| e.to_string())?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((parts.status, parts.headers, body))
}

/// An answer deliberately lost (`STACKGATE_FAULTS` `timeout`): the call was carried out, and the
/// connection closes without a response.
#[derive(Debug)]
pub struct LostAnswer;

impl std::fmt::Display for LostAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("answer lost on purpose (STACKGATE_FAULTS)")
    }
}

impl std::error::Error for LostAnswer {}

/// Reads a request whole, and decides its injected fault, if any.
pub(super) async fn read_call(
    state: &State,
    request: Request<Incoming>,
) -> Result<(hyper::http::request::Parts, Bytes, Option<(Kind, Call)>), String> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let fault = state.faults.as_ref().and_then(|injector| {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let call = faults::classify(
            parts.method.as_str(),
            header("authorization"),
            header("x-amz-target"),
            parts.uri.path(),
            parts.uri.query(),
            &body,
        )?;
        injector.decide(&call).map(|kind| (kind, call))
    });
    Ok((parts, body, fault))
}

/// moto's IAM decision on a call the front door answers itself (CodePipeline's job results, patch
/// reports, Lambda invocations), so that functions and state machines run under their roles for
/// those too: the same request goes to moto, which authorizes before it looks for the operation or
/// function, and its denial is the answer. Other callers (the operator, the tests) are not asked.
pub(super) async fn denied_by_iam(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
    path_and_query: &str,
) -> Option<Response<Full<Bytes>>> {
    let authorization = parts.headers.get("authorization")?.to_str().ok()?;
    if !faults::runs_as_role(authorization) {
        return None;
    }
    let moto = &state.upstreams.moto;
    let (status, headers, answer) = forward(state, parts, body.clone(), moto, path_and_query)
        .await
        .ok()?;
    if status != StatusCode::FORBIDDEN {
        return None;
    }
    let mut denied = Response::new(Full::new(answer));
    *denied.status_mut() = status;
    for (name, value) in headers.iter() {
        if name != CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
            denied.headers_mut().append(name, value.clone());
        }
    }
    Some(denied)
}

/// Forwards a call upstream, unless an injected fault answers it: `Ok(Ok(answer))` to pass on,
/// `Ok(Err(response))` answered here (a fault, or an upstream out of reach), `Err` to lose it.
pub(super) async fn pass_on(
    state: &State,
    request: Request<Incoming>,
    upstream: &str,
    path_and_query: &str,
) -> Result<Result<(StatusCode, hyper::HeaderMap, Bytes), Response<Full<Bytes>>>, LostAnswer> {
    let original_path = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_string(),
        |p| p.as_str().to_string(),
    );
    let (parts, body, fault) = match read_call(state, request).await {
        Ok(read) => read,
        Err(e) => return Ok(Err(text(StatusCode::BAD_REQUEST, e))),
    };
    if let Some((kind, call)) = fault.as_ref().filter(|(kind, _)| *kind != Kind::Timeout) {
        return Ok(Err(fault_response(*kind, call)));
    }
    if upstream != state.upstreams.moto {
        if let Some(denied) = denied_by_iam(state, &parts, &body, &original_path).await {
            return Ok(Err(denied));
        }
    }
    let answer = forward(state, &parts, body, upstream, path_and_query).await;
    if fault.is_some() {
        return Err(LostAnswer);
    }
    Ok(answer.map_err(|e| {
        text(
            StatusCode::BAD_GATEWAY,
            format!("{upstream} unreachable: {e}"),
        )
    }))
}

pub(super) fn fault_response(kind: Kind, call: &Call) -> Response<Full<Bytes>> {
    let (status, headers, body) = faults::error_answer(kind, call);
    let mut r = text(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    );
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            r.headers_mut().insert(name, value);
        }
    }
    r
}
