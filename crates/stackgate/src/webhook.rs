//! Triggering external jobs: an HTTP(S) POST of form parameters (Jenkins' `buildWithParameters`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::TaskError;

const TIMEOUT: Duration = Duration::from_secs(20);

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTP(S) client trusting the system's CA bundle (`crate::tls`, as the SDK's clients do), built
/// on first use, once per process: reading the roots costs milliseconds, and most invocations of
/// the activity dispatcher (manual tasks) never call out.
#[derive(Clone, Default)]
pub struct WebhookClient {
    client: std::sync::OnceLock<Result<HttpsClient, String>>,
}

impl std::fmt::Debug for WebhookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookClient")
    }
}

impl WebhookClient {
    pub fn new() -> Result<Self, TaskError> {
        Ok(WebhookClient::default())
    }

    fn client(&self) -> Result<&HttpsClient, String> {
        self.client
            .get_or_init(|| {
                let builder = hyper_rustls::HttpsConnectorBuilder::new();
                let builder = match crate::tls::bundle_client_config() {
                    Some(config) => builder.with_tls_config(config),
                    None => builder
                        .with_native_roots()
                        .map_err(|e| format!("no TLS trust roots: {e}"))?,
                };
                let connector = builder.https_or_http().enable_http1().build();
                Ok(Client::builder(TokioExecutor::new()).build(connector))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// GETs `url`; returns the status (any, for the caller to judge) or why there was none.
    pub async fn get_status(&self, url: &str, timeout: Duration) -> Result<u16, String> {
        let request = hyper::Request::get(url)
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("bad URL: {e}"))?;
        let response = tokio::time::timeout(timeout, self.client()?.request(request))
            .await
            .map_err(|_| format!("no answer within {timeout:?}"))?
            .map_err(|e| format!("could not connect: {e}"))?;
        let status = response.status().as_u16();
        let _ = response.into_body().collect().await;
        Ok(status)
    }

    /// POSTs `parameters` as a form; any 2xx is success. Failures say what happened, never the URL's
    /// query (which may carry a job token).
    pub async fn post_form(
        &self,
        url: &str,
        parameters: &[(String, String)],
    ) -> Result<u16, TaskError> {
        let failed = |message: String| TaskError::Aws {
            operation: "webhook".into(),
            message,
        };
        let body = serde_urlencoded::to_string(parameters).map_err(|e| failed(e.to_string()))?;
        let request = hyper::Request::post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| failed(format!("bad webhook request: {e}")))?;
        let response =
            tokio::time::timeout(TIMEOUT, self.client().map_err(failed)?.request(request))
                .await
                .map_err(|_| failed(format!("no answer within {TIMEOUT:?}")))?
                .map_err(|e| failed(format!("could not reach the webhook: {e}")))?;
        let status = response.status().as_u16();
        let _ = response.into_body().collect().await;
        if (200..300).contains(&status) {
            Ok(status)
        } else {
            Err(failed(format!("the webhook answered HTTP {status}")))
        }
    }
}
