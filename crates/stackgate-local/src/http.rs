//! A small HTTP client for the local stack's non-AWS endpoints (moto's control API, the front door's
//! `/_local` pages, Lambda invocations of the functions).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::BoxError;

/// Sends one request and returns the status and body.
pub async fn call(
    method: Method,
    url: &str,
    body: Option<String>,
) -> Result<(u16, Bytes), BoxError> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let response = client.request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
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
