//! The Runtime API's side: the routes the function's process calls, answered from the events
//! handed to the benchmark, each call told to the driver as it happens.

use super::*;

/// What the server tells the driver.
#[derive(Debug)]
pub(super) enum Signal {
    /// The process asked for an event.
    Next(Instant),
    /// The process answered invocation `id`.
    Answer {
        id: String,
        at: Instant,
        error: bool,
        body: String,
    },
    /// The process reported a failed init (what it said).
    InitError(String),
}

pub(super) struct Server {
    pub(super) signals: mpsc::UnboundedSender<Signal>,
    /// Events handed out on `next`, in order; a request id each.
    pub(super) events: Mutex<std::vec::IntoIter<(String, Value)>>,
    /// When each event was handed out.
    pub(super) handed_out: Mutex<HashMap<String, Instant>>,
    pub(super) function_arn: String,
    pub(super) timeout: Duration,
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

// Long by design: one arm per Runtime API route.
pub(super) async fn handle(
    server: Arc<Server>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let Some(rest) = path.strip_prefix(API) else {
        return Ok(reply(StatusCode::NOT_FOUND, "not a Runtime API path"));
    };
    if method == Method::GET && rest == "/invocation/next" {
        let _ = server.signals.send(Signal::Next(Instant::now()));
        let next = server
            .events
            .lock()
            .map(|mut events| events.next())
            .ok()
            .flatten();
        let Some((id, event)) = next else {
            // Nothing more to hand out: hold the request, as Lambda does between invocations,
            // until the driver stops the process.
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes");
        };
        let deadline = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            + server.timeout.as_millis();
        let mut response = reply(StatusCode::OK, event.to_string());
        let headers = response.headers_mut();
        for (name, value) in [
            ("lambda-runtime-aws-request-id", id.clone()),
            ("lambda-runtime-deadline-ms", deadline.to_string()),
            (
                "lambda-runtime-invoked-function-arn",
                server.function_arn.clone(),
            ),
            (
                "lambda-runtime-trace-id",
                format!("Root=1-00000000-{id:0>24}"),
            ),
            ("content-type", "application/json".to_string()),
        ] {
            if let Ok(value) = value.parse() {
                headers.insert(name, value);
            }
        }
        if let Ok(mut handed_out) = server.handed_out.lock() {
            handed_out.insert(id, Instant::now());
        }
        return Ok(response);
    }
    if method == Method::POST {
        // Read the whole answer before timing it: the answer is complete only then.
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let at = Instant::now();
        if rest == "/init/error" {
            let said = String::from_utf8_lossy(&body);
            let _ = server
                .signals
                .send(Signal::InitError(said.chars().take(300).collect()));
            return Ok(reply(StatusCode::ACCEPTED, "{}"));
        }
        if let Some(answer) = rest.strip_prefix("/invocation/") {
            if let Some((id, kind)) = answer.split_once('/') {
                if kind == "response" || kind == "error" {
                    let _ = server.signals.send(Signal::Answer {
                        id: id.to_string(),
                        at,
                        error: kind == "error",
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    return Ok(reply(StatusCode::ACCEPTED, "{}"));
                }
            }
        }
    }
    Ok(reply(StatusCode::NOT_FOUND, "unknown Runtime API call"))
}
