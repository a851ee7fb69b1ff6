//! A Lambda Runtime API for one process at a time, written for the benchmark: it starts the
//! function's process itself, so it knows when the process began, when it first asked for an event
//! (the end of init), how long each invocation took and how much memory the process peaked at.
//! Endpoints are those of the Runtime API, 2018-06-01: `invocation/next`, `invocation/{id}/response`,
//! `invocation/{id}/error`, `init/error`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::BenchError;

mod server;
use server::{handle, Server, Signal};

const API: &str = "/2018-06-01/runtime";
/// The function timeout a process gets unless it says otherwise (the deadline each event carries;
/// an invocation that takes longer abandons the run).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long init may take (Lambda's own init limit is 10 s; baselines get more room here).
const INIT_LIMIT: Duration = Duration::from_secs(30);

/// A function process as Lambda would start it.
#[derive(Debug, Clone)]
pub struct Process {
    pub function_name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// The function's configured timeout: each event's deadline.
    pub timeout: Duration,
}

/// One invocation as the harness saw it: from handing out the event to receiving the answer.
#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    pub duration: Duration,
    /// The function answered on the `error` endpoint.
    pub error: bool,
}

/// One cold start of a process and the invocations it served.
#[derive(Debug, Clone)]
pub struct ColdStart {
    /// Process start -> its first `invocation/next` request.
    pub init: Duration,
    /// The first invocation, then the warm ones.
    pub invocations: Vec<Invocation>,
    /// Peak resident set size of the process (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Each invocation's answer body (a result or an error document), in order.
    pub answers: Vec<String>,
    /// Everything the process wrote to stdout and stderr: its logs.
    pub output: String,
}

impl ColdStart {
    pub fn first(&self) -> Invocation {
        self.invocations[0]
    }

    pub fn warm(&self) -> &[Invocation] {
        &self.invocations[1..]
    }

    /// Lines the process logged at DEBUG or TRACE, in either log format (text or Lambda's JSON).
    pub fn verbose_lines(&self) -> usize {
        verbose_lines(&self.output)
    }
}

/// Lines of `output` logged at DEBUG or TRACE: the text format's level (its first word: the
/// functions log without time; colour codes, were any written, are skipped) or the JSON format's
/// `level` field.
pub fn verbose_lines(output: &str) -> usize {
    output
        .lines()
        .filter(|line| {
            let first = without_colour(line.split_whitespace().next().unwrap_or_default());
            ["DEBUG", "TRACE"]
                .iter()
                .any(|level| first == *level || line.contains(&format!("\"level\":\"{level}\"")))
        })
        .count()
}

/// `word` without ANSI escape sequences (`ESC [ … letter`).
fn without_colour(word: &str) -> String {
    let mut plain = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Peak resident set size of a live process, from /proc (KiB).
pub fn peak_rss_kib(pid: u32) -> Result<u64, BenchError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| BenchError::Measure(format!("reading /proc/{pid}/status: {e}")))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| BenchError::Measure(format!("no VmHWM for process {pid}")))
}

/// Starts `process`, hands it `events` one by one and measures the cold start.
// Long by design: the Lambda Runtime API exchange of one cold start, step by step, timed in
// the order Lambda performs it.
pub async fn cold_start(process: &Process, events: &[Value]) -> Result<ColdStart, BenchError> {
    if events.is_empty() {
        return Err(BenchError::Measure(
            "a cold start needs at least one event".into(),
        ));
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (signals, mut received) = mpsc::unbounded_channel();
    let ids: Vec<String> = (0..events.len())
        .map(|i| format!("bench-{:08}", i + 1))
        .collect();
    let server = Arc::new(Server {
        signals,
        events: Mutex::new(
            ids.iter()
                .cloned()
                .zip(events.iter().cloned())
                .collect::<Vec<_>>()
                .into_iter(),
        ),
        handed_out: Mutex::new(HashMap::new()),
        function_arn: format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            process.function_name
        ),
        timeout: process.timeout,
    });
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let server = server.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| handle(server.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        })
    };

    // What the process says (its logs), kept for the caller and quoted when it fails.
    let log = std::env::temp_dir().join(format!(
        "stackgate-bench-{}-{}.log",
        process.function_name,
        std::process::id()
    ));
    let log_file = std::fs::File::create(&log)?;
    let mut command = tokio::process::Command::new(&process.program);
    command
        .args(&process.args)
        .env_clear()
        .envs(process.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &process.function_name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", process.function_name),
        )
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file.try_clone()?))
        .stderr(Stdio::from(log_file))
        .kill_on_drop(true);
    // Lambda sets both; botocore reads only the second.
    if let Some((_, region)) = process.env.iter().find(|(k, _)| k == "AWS_REGION") {
        command.env("AWS_DEFAULT_REGION", region);
    }
    if let Some(cwd) = &process.cwd {
        command.current_dir(cwd);
    }
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| BenchError::Measure(format!("starting {}: {e}", process.program.display())))?;
    let pid = child
        .id()
        .ok_or_else(|| BenchError::Measure("the process exited at once".into()))?;

    let result = drive(&server, &mut received, &mut child, started, &ids, pid).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    serving.abort();
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    match result {
        Ok(run) => Ok(ColdStart { output, ..run }),
        Err(e) => {
            let tail = output.trim().lines().rev().take(3).collect::<Vec<_>>();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(BenchError::Measure(format!(
                "{}: {e}; output: {}",
                process.function_name,
                tail.join(" | ")
            )))
        }
    }
}

/// Follows the process through init and every invocation.
async fn drive(
    server: &Server,
    received: &mut mpsc::UnboundedReceiver<Signal>,
    child: &mut tokio::process::Child,
    started: Instant,
    ids: &[String],
    pid: u32,
) -> Result<ColdStart, String> {
    let mut init = None;
    let mut invocations = Vec::with_capacity(ids.len());
    let mut answers = Vec::with_capacity(ids.len());
    while invocations.len() < ids.len() {
        let limit = if init.is_none() {
            INIT_LIMIT
        } else {
            server.timeout
        };
        let signal = tokio::select! {
            signal = tokio::time::timeout(limit, received.recv()) => signal
                .map_err(|_| format!("no progress within {limit:?}"))?
                .ok_or("the Runtime API server stopped")?,
            exit = child.wait() => {
                return Err(format!("the process exited ({})", exit.map_or_else(|e| e.to_string(), |s| s.to_string())));
            }
        };
        match signal {
            Signal::Next(at) => {
                init.get_or_insert(at - started);
            }
            Signal::Answer {
                id,
                at,
                error,
                body,
            } => {
                let handed_out = server
                    .handed_out
                    .lock()
                    .map_err(|_| "poisoned lock")?
                    .get(&id)
                    .copied()
                    .ok_or_else(|| format!("an answer for unknown request {id}"))?;
                invocations.push(Invocation {
                    duration: at - handed_out,
                    error,
                });
                answers.push(body);
            }
            Signal::InitError(what) => return Err(format!("init failed: {what}")),
        }
    }
    // Every answer is in; the process is now waiting on `next`, alive, with its peak known.
    let peak_rss_kib = peak_rss_kib(pid).map_err(|e| e.to_string())?;
    Ok(ColdStart {
        init: init.ok_or("answers before any request for an event")?,
        invocations,
        peak_rss_kib,
        answers,
        output: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_lines_are_counted_in_both_log_formats() {
        let output = concat!(
            " INFO stackgate: planned\n",
            "DEBUG invoke{service=s3}: aws_smithy_runtime: entering 'serialization' phase\n",
            "TRACE raw\n",
            "{\"level\":\"DEBUG\",\"fields\":{\"message\":\"x\"}}\n",
            "{\"level\":\"INFO\",\"fields\":{\"message\":\"DEBUG in a message\"}}\n",
            " WARN a DEBUG word later in the line\n",
            "\u{1b}[34mDEBUG\u{1b}[0m coloured\n",
            "\u{1b}[32m INFO\u{1b}[0m coloured\n",
        );
        assert_eq!(verbose_lines(output), 4);
    }

    /// A Runtime API client in shell and curl: asks for events and echoes them back, failing the
    /// second one (enough to exercise the harness without building a function).
    fn echo_runtime() -> Process {
        let script = r#"
            n=0
            while true; do
              headers=$(mktemp)
              body=$(curl -sS -D "$headers" "http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next")
              id=$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | cut -d' ' -f2 | tr -d '\r')
              n=$((n+1))
              if [ "$n" = 2 ]; then kind=error; else kind=response; fi
              curl -sS -X POST -d "$body" "http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/$id/$kind" >/dev/null
            done
        "#;
        Process {
            function_name: "echo".into(),
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: None,
            env: vec![],
            timeout: DEFAULT_TIMEOUT,
        }
    }

    #[tokio::test]
    async fn a_cold_start_reports_init_each_invocation_and_the_peak_memory() {
        let events = vec![
            serde_json::json!({"n": 1}),
            serde_json::json!({"n": 2}),
            serde_json::json!({"n": 3}),
        ];
        let run = cold_start(&echo_runtime(), &events).await.unwrap();
        assert_eq!(run.invocations.len(), 3);
        assert!(!run.first().error);
        assert_eq!(
            run.warm().iter().filter(|i| i.error).count(),
            1,
            "the second answer was an error"
        );
        assert!(run.init > Duration::ZERO);
        assert!(run.peak_rss_kib > 0);
        assert_eq!(run.answers[2], r#"{"n":3}"#, "answers are kept in order");
    }

    #[tokio::test]
    async fn a_process_that_exits_before_asking_for_work_is_reported() {
        let silent = Process {
            function_name: "silent".into(),
            program: "sh".into(),
            args: vec!["-c".into(), "exit 3".into()],
            cwd: None,
            env: vec![],
            timeout: DEFAULT_TIMEOUT,
        };
        let error = cold_start(&silent, &[Value::Null])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("silent") && error.contains("exited"),
            "{error}"
        );
    }

    #[test]
    fn peak_memory_is_read_for_a_live_process_only() {
        assert!(peak_rss_kib(std::process::id()).unwrap() > 0);
        assert!(peak_rss_kib(u32::MAX).is_err());
    }
}
