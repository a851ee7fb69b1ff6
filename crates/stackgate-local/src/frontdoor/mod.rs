//! The front door: one loopback port that looks like AWS. Lambda Invoke calls go to `cargo lambda watch`
//! (ARN -> bare binary name, errors rewritten into Lambda's real shape so that Step Functions'
//! Retry/Catch see them); CodePipeline job answers, which moto lacks, are recorded (see `jobs`);
//! everything else goes to moto.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::faults::{Injector, Spec};
use crate::jobs::{job_call, JobCall, JobLedger};

mod upstream;
pub use upstream::LostAnswer;
use upstream::{denied_by_iam, pass_on};

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A Lambda Invoke of the named function (bare name).
    Invoke(String),
    /// PutJobSuccessResult / PutJobFailureResult, answered by the local job ledger.
    JobAnswer(JobCall),
    /// `GET /_local/codepipeline/jobs`
    Jobs,
    /// `GET /_local/codepipeline/jobs/<jobId>`
    Job(String),
    /// SSM DescribeInstancePatches, answered by the local patch store.
    DescribePatches,
    /// `PUT /_local/ssm/instance-patches/<instanceId>`
    LoadPatches(String),
    Health,
    /// `GET /_local/faults`: the injected faults so far.
    Faults,
    Moto,
}

const JOBS_PATH: &str = "/_local/codepipeline/jobs";
const FAULTS_PATH: &str = "/_local/faults";

/// How many invocations of one function the front door lets wait in `cargo lambda watch` at a time;
/// the rest wait here. cargo-lambda queues a function's invocations in a channel of 100 that it fills
/// while holding the lock every function's runtime needs to take its next event: a 101st waiting
/// invocation stops every function for good. The margin is for function URL requests, which reach
/// cargo-lambda directly.
pub const INVOKES_WAITING_PER_FUNCTION: usize = 50;

const INVOKE_PREFIX: &str = "/2015-03-31/functions/";
const INVOKE_SUFFIX: &str = "/invocations";

/// The bare function name of `name`, an ARN (`arn:aws:lambda:r:a:function:NAME[:qualifier]`),
/// a partial ARN (`a:function:NAME`) or a name.
pub fn function_name(raw: &str) -> String {
    let decoded = percent_decode_str(raw).decode_utf8_lossy();
    let parts: Vec<&str> = decoded.split(':').collect();
    match parts.iter().position(|p| *p == "function") {
        Some(i) if i + 1 < parts.len() => parts[i + 1].to_string(),
        _ => parts[0].to_string(),
    }
}

pub fn route(method: &hyper::Method, path: &str, target: Option<&str>) -> Route {
    if path == "/_local/health" {
        return Route::Health;
    }
    if path == FAULTS_PATH && method == hyper::Method::GET {
        return Route::Faults;
    }
    if method == hyper::Method::GET {
        if path == JOBS_PATH || path == format!("{JOBS_PATH}/") {
            return Route::Jobs;
        }
        if let Some(id) = path
            .strip_prefix(JOBS_PATH)
            .and_then(|p| p.strip_prefix('/'))
        {
            return Route::Job(percent_decode_str(id).decode_utf8_lossy().into_owned());
        }
    }
    if let Some(call) = target.and_then(job_call) {
        return Route::JobAnswer(call);
    }
    if target == Some(crate::patches::TARGET) {
        return Route::DescribePatches;
    }
    if method == hyper::Method::PUT {
        if let Some(id) = path
            .strip_prefix(crate::patches::PATH)
            .filter(|id| !id.is_empty())
        {
            return Route::LoadPatches(id.to_string());
        }
    }
    if method == hyper::Method::POST {
        if let Some(rest) = path.strip_prefix(INVOKE_PREFIX) {
            if let Some(function) = rest.strip_suffix(INVOKE_SUFFIX) {
                return Route::Invoke(function_name(function));
            }
        }
    }
    Route::Moto
}

/// Rewrites cargo-lambda's answer into Lambda's: a function error is HTTP 200 with
/// `X-Amz-Function-Error: Unhandled` and the `{errorType, errorMessage}` body.
pub fn lambda_response(status: StatusCode, body: Bytes, function: &str) -> Response<Full<Bytes>> {
    let mut response = if status.is_success() {
        Response::new(Full::new(body))
    } else if status == StatusCode::NOT_FOUND {
        let message =
            format!("{{\"Type\":\"User\",\"Message\":\"Function not found: {function}\"}}");
        let mut r = Response::new(Full::new(Bytes::from(message)));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r.headers_mut().insert(
            "x-amzn-ErrorType",
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        r
    } else {
        let parsed: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
        let has_type = parsed.as_ref().and_then(|v| v.get("errorType")).is_some();
        let payload = if has_type {
            body
        } else {
            let text = String::from_utf8_lossy(&body).into_owned();
            Bytes::from(
                serde_json::json!({"errorType": "Lambda.Unknown", "errorMessage": text})
                    .to_string(),
            )
        };
        let mut r = Response::new(Full::new(payload));
        r.headers_mut().insert(
            "X-Amz-Function-Error",
            HeaderValue::from_static("Unhandled"),
        );
        r
    };
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response.headers_mut().insert(
        "X-Amz-Executed-Version",
        HeaderValue::from_static("$LATEST"),
    );
    response
}

#[derive(Debug, Clone)]
pub struct Upstreams {
    pub moto: String,
    pub lambda: String,
}

struct State {
    upstreams: Upstreams,
    /// One gate per function (see `INVOKES_WAITING_PER_FUNCTION`).
    invoke_gates: std::sync::Mutex<std::collections::HashMap<String, Arc<Semaphore>>>,
    ledger: JobLedger,
    patches: crate::patches::PatchStore,
    client: Client<HttpConnector, Full<Bytes>>,
    faults: Option<Injector>,
    fault_spec: Option<String>,
}

impl State {
    fn invoke_gate(&self, function: &str) -> Arc<Semaphore> {
        let mut gates = self
            .invoke_gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        gates
            .entry(function.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(INVOKES_WAITING_PER_FUNCTION)))
            .clone()
    }
}

fn json_response(
    status: StatusCode,
    body: &serde_json::Value,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: impl Into<String>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.into())));
    *r.status_mut() = status;
    r
}

// Long by design: the front door's routing table (one arm per gap it fills), kept in one place
// so that what is served locally instead of moto reads at a glance.
async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, LostAnswer> {
    let path = request.uri().path().to_string();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_string());
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = match route(request.method(), &path, target.as_deref()) {
        Route::Health => text(StatusCode::OK, "ok"),
        Route::Jobs => json_response(StatusCode::OK, &state.ledger.list(), "application/json"),
        Route::Job(id) => match state.ledger.get(&id) {
            Some(job) => json_response(StatusCode::OK, &job, "application/json"),
            None => json_response(
                StatusCode::NOT_FOUND,
                &serde_json::json!({"message": format!("no answer recorded for job {id}")}),
                "application/json",
            ),
        },
        Route::LoadPatches(id) => match request.into_body().collect().await {
            Ok(body) => match state.patches.load(&id, &body.to_bytes()) {
                Ok(count) => json_response(
                    StatusCode::OK,
                    &serde_json::json!({"instanceId": id, "patches": count}),
                    "application/json",
                ),
                Err(message) => json_response(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({"message": message}),
                    "application/json",
                ),
            },
            Err(e) => text(StatusCode::BAD_REQUEST, e.to_string()),
        },
        Route::DescribePatches => {
            const AMZ_JSON: &str = "application/x-amz-json-1.1";
            let (parts, body) = request.into_parts();
            match body
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
            {
                Ok(body) => match denied_by_iam(&state, &parts, &body, &path_and_query).await {
                    Some(denied) => denied,
                    None => match state.patches.describe(&body) {
                        Ok(answer) => json_response(StatusCode::OK, &answer, AMZ_JSON),
                        Err((status, kind, message)) => json_response(
                            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                            &serde_json::json!({"__type": kind, "message": message}),
                            AMZ_JSON,
                        ),
                    },
                },
                Err(e) => text(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        Route::JobAnswer(call) => {
            const AMZ_JSON: &str = "application/x-amz-json-1.1";
            let (parts, body) = request.into_parts();
            match body
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes)
            {
                Ok(body) => match denied_by_iam(&state, &parts, &body, &path_and_query).await {
                    Some(denied) => denied,
                    None => match state.ledger.record(call, &body) {
                        Ok(()) => json_response(StatusCode::OK, &serde_json::json!({}), AMZ_JSON),
                        Err((status, kind, message)) => json_response(
                            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                            &serde_json::json!({"__type": kind, "message": message}),
                            AMZ_JSON,
                        ),
                    },
                },
                Err(e) => text(StatusCode::BAD_REQUEST, e.to_string()),
            }
        }
        Route::Faults => json_response(
            StatusCode::OK,
            &serde_json::json!({
                "spec": state.fault_spec,
                "tally": state.faults.as_ref().map(Injector::tally).unwrap_or_default(),
            }),
            "application/json",
        ),
        Route::Invoke(function) => {
            let target = format!("{INVOKE_PREFIX}{function}{INVOKE_SUFFIX}");
            let gate = state.invoke_gate(&function);
            // The semaphore is never closed.
            let _turn = gate.acquire_owned().await;
            match pass_on(&state, request, &state.upstreams.lambda, &target).await? {
                Ok((status, _, body)) => lambda_response(status, body, &function),
                Err(refused) => refused,
            }
        }
        Route::Moto => {
            match pass_on(&state, request, &state.upstreams.moto, &path_and_query).await? {
                Ok((status, headers, body)) => {
                    let mut r = Response::new(Full::new(body));
                    *r.status_mut() = status;
                    for (name, value) in headers.iter() {
                        if name != CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
                            r.headers_mut().append(name, value.clone());
                        }
                    }
                    r
                }
                Err(refused) => refused,
            }
        }
    };
    Ok(response)
}

/// Serves until the process is stopped; `faults` is `STACKGATE_FAULTS`'s spec, already parsed.
pub async fn serve(
    listen: SocketAddr,
    upstreams: Upstreams,
    faults: Option<(String, Spec)>,
) -> std::io::Result<()> {
    serve_on(TcpListener::bind(listen).await?, upstreams, faults).await
}

async fn serve_on(
    listener: TcpListener,
    upstreams: Upstreams,
    faults: Option<(String, Spec)>,
) -> std::io::Result<()> {
    let listen = listener.local_addr()?;
    let (fault_spec, faults) = match faults {
        Some((text, spec)) => (Some(text), Some(Injector::new(spec))),
        None => (None, None),
    };
    let state = Arc::new(State {
        upstreams,
        invoke_gates: Default::default(),
        client: Client::builder(TokioExecutor::new()).build_http(),
        ledger: JobLedger::default(),
        patches: crate::patches::PatchStore::default(),
        faults,
        fault_spec,
    });
    match &state.fault_spec {
        Some(spec) => {
            eprintln!("front door listening on http://{listen}, injecting faults: {spec}")
        }
        None => eprintln!("front door listening on http://{listen}"),
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(state.clone(), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Method;

    #[test]
    fn invoke_paths_route_to_bare_names() {
        assert_eq!(
            route(&Method::POST, "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Acheck-stack/invocations", None),
            Route::Invoke("check-stack".into())
        );
        assert_eq!(
            route(&Method::POST, "/2015-03-31/functions/arn:aws:lambda:us-east-1:1:function:wait-stack:live/invocations", None),
            Route::Invoke("wait-stack".into())
        );
        assert_eq!(
            route(
                &Method::POST,
                "/2015-03-31/functions/wait-stack/invocations",
                None
            ),
            Route::Invoke("wait-stack".into())
        );
        assert_eq!(
            route(&Method::GET, "/2015-03-31/functions/x/invocations", None),
            Route::Moto
        );
        assert_eq!(route(&Method::POST, "/", None), Route::Moto);
        assert_eq!(route(&Method::GET, "/_local/health", None), Route::Health);
    }

    #[test]
    fn codepipeline_job_answers_go_to_the_ledger_and_the_rest_to_moto() {
        let success = Some("CodePipeline_20150709.PutJobSuccessResult");
        assert_eq!(
            route(&Method::POST, "/", success),
            Route::JobAnswer(JobCall::Success)
        );
        let other = Some("CodePipeline_20150709.ListPipelines");
        assert_eq!(route(&Method::POST, "/", other), Route::Moto);
        assert_eq!(
            route(&Method::GET, "/_local/codepipeline/jobs", None),
            Route::Jobs
        );
        assert_eq!(
            route(&Method::GET, "/_local/codepipeline/jobs/abc", None),
            Route::Job("abc".into())
        );
    }

    #[test]
    fn function_errors_take_lambdas_shape() {
        let body = Bytes::from(r#"{"errorType":"StackBusy","errorMessage":"busy"}"#);
        let r = lambda_response(StatusCode::INTERNAL_SERVER_ERROR, body.clone(), "f");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["X-Amz-Function-Error"], "Unhandled");

        let r = lambda_response(StatusCode::INTERNAL_SERVER_ERROR, Bytes::from("boom"), "f");
        assert_eq!(r.headers()["X-Amz-Function-Error"], "Unhandled");

        let r = lambda_response(StatusCode::NOT_FOUND, Bytes::new(), "f");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(r.headers()["x-amzn-ErrorType"], "ResourceNotFoundException");

        let r = lambda_response(StatusCode::OK, Bytes::from("{}"), "f");
        assert!(r.headers().get("X-Amz-Function-Error").is_none());
    }

    /// A stand-in for `cargo lambda watch` that holds every invocation until released, counting how
    /// many it holds per function.
    async fn holding_lambda(
        held: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
        release: tokio::sync::watch::Receiver<bool>,
    ) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (held, release) = (held.clone(), release.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (held, mut release) = (held.clone(), release.clone());
                        async move {
                            let function = request.uri().path().to_string();
                            *held.lock().unwrap().entry(function.clone()).or_default() += 1;
                            let _ = release.wait_for(|released| *released).await;
                            *held.lock().unwrap().get_mut(&function).unwrap() -= 1;
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                Bytes::from("{}"),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        address
    }

    #[tokio::test]
    async fn invocations_of_one_function_beyond_the_gate_wait_in_the_front_door() {
        let held = Arc::new(std::sync::Mutex::new(std::collections::HashMap::new()));
        let (release, released) = tokio::sync::watch::channel(false);
        let lambda = holding_lambda(held.clone(), released).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_door = listener.local_addr().unwrap();
        let upstreams = Upstreams {
            moto: "127.0.0.1:1".into(),
            lambda,
        };
        tokio::spawn(serve_on(listener, upstreams, None));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let invoke = |function: &str| {
            let request = Request::post(format!(
                "http://{front_door}/2015-03-31/functions/{function}/invocations"
            ))
            .body(Full::new(Bytes::from("{}")))
            .unwrap();
            tokio::spawn(client.request(request))
        };
        let count = |function: &str| {
            let path = format!("{INVOKE_PREFIX}{function}{INVOKE_SUFFIX}");
            held.lock().unwrap().get(&path).copied().unwrap_or_default()
        };

        let waiting = INVOKES_WAITING_PER_FUNCTION + 70;
        let calls: Vec<_> = (0..waiting).map(|_| invoke("wait-stack")).collect();
        while count("wait-stack") < INVOKES_WAITING_PER_FUNCTION {
            tokio::task::yield_now().await;
        }
        // Another function is not held up by the first one's queue.
        let other = invoke("create-change-set");
        while count("create-change-set") < 1 {
            tokio::task::yield_now().await;
        }
        // Give the front door every chance to let more through than it should.
        for _ in 0..1000 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(count("wait-stack"), INVOKES_WAITING_PER_FUNCTION);

        release.send(true).unwrap();
        for call in calls.into_iter().chain([other]) {
            let answer = call.await.unwrap().unwrap();
            assert_eq!(answer.status(), StatusCode::OK);
        }
    }
}
