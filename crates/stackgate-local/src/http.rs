//! A small HTTP client for the local stack's non-AWS endpoints (moto's control API, the front door's
//! `/_local` pages, Lambda invocations of the functions, the API's function URL).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::BoxError;

/// Sends one JSON request and returns the status and body.
pub async fn call(
    method: Method,
    url: &str,
    body: Option<String>,
) -> Result<(u16, Bytes), BoxError> {
    let (status, _, body) = send(
        method,
        url,
        &[("content-type", "application/json")],
        body.unwrap_or_default().into_bytes(),
    )
    .await?;
    Ok((status, body))
}

/// Sends one request with the given headers; returns status, headers and body.
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<(u16, hyper::HeaderMap, Bytes), BoxError> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(request.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, headers, body))
}

/// Invokes a function through the front door, as Lambda's Invoke API would.
pub async fn invoke(
    endpoint: &str,
    function: &str,
    payload: &serde_json::Value,
) -> Result<(u16, Bytes), BoxError> {
    let url = format!("{endpoint}/2015-03-31/functions/{function}/invocations");
    call(Method::POST, &url, Some(payload.to_string())).await
}
