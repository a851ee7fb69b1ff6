//! Logging set-up shared by every function. Handlers log identifiers only, never whole events:
//! events can carry credentials (CodePipeline's `artifactCredentials`) or task tokens.

use std::io::Write;

use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, FilterFn, LevelFilter};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Targets that log what crosses the wire at TRACE: lambda_runtime logs each raw event
/// (CodePipeline's `artifactCredentials`, task tokens); the SDK's orchestrator logs whole HTTP
/// requests and responses (task tokens in SendTaskSuccess and GetItem, SecureString values in
/// PutParameter); SigV4 logs the request it signs; the HTTP crates log what they send and receive.
/// They are capped: never above DEBUG, and never above the configured level (at `info`, the SDK's
/// per-request DEBUG steps would otherwise be ~128 lines of every plan). The cap is a filter of its
/// own (`wire_cap`), after the configured one: no directive can lift it (a span directive such as
/// `[try_attempt]=trace` enables every target inside the span, whatever the target rules say).
const WIRE_TARGETS: [&str; 7] = [
    "lambda_runtime::layers::api_response",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_sigv4",
    "hyper",
    "hyper_util",
    "h2",
];

/// The configured directives (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`), each trimmed,
/// without those naming a wire target (the cap would stop them anyway).
fn directives(level: Option<&str>) -> Vec<&str> {
    let level = level
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("info");
    let names_a_wire_target = |directive: &str| {
        let target = directive.split(['=', '[']).next().unwrap_or_default();
        !target.is_empty() && is_wire(target)
    };
    level
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !names_a_wire_target(d))
        .collect()
}

fn is_wire(target: &str) -> bool {
    WIRE_TARGETS.iter().any(|t| target.starts_with(t))
}

/// The most the wire targets may log: the configured default level (the last bare level, as
/// EnvFilter reads it; none means off), and never above DEBUG.
fn wire_ceiling(wanted: &[&str]) -> LevelFilter {
    let default = wanted
        .iter()
        .rev()
        .find_map(|d| d.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::OFF);
    default.min(LevelFilter::DEBUG)
}

/// The configured filter: a level or `RUST_LOG`-style directives; a setting that does not parse
/// gives `info`.
pub fn filter(level: Option<&str>) -> EnvFilter {
    let wanted = directives(level);
    EnvFilter::try_new(wanted.join(",")).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The wire targets' cap for a configured level, as a filter of its own.
pub type WireCap = FilterFn<Box<dyn Fn(&Metadata<'_>) -> bool + Send + Sync>>;

pub fn wire_cap(level: Option<&str>) -> WireCap {
    let wanted = directives(level);
    // A setting EnvFilter refuses falls back to `info` (`filter`): the cap follows it.
    let ceiling = if EnvFilter::try_new(wanted.join(",")).is_ok() {
        wire_ceiling(&wanted)
    } else {
        LevelFilter::INFO
    };
    filter_fn(Box::new(move |metadata: &Metadata<'_>| {
        !is_wire(metadata.target()) || *metadata.level() <= ceiling
    }))
}

/// The functions' subscriber: the configured filter, then the wire cap; text without time, target
/// or colour (CloudWatch adds the time), or Lambda's JSON lines.
pub fn subscriber<W>(
    level: Option<&str>,
    writer: W,
    json: bool,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .with_env_filter(filter(level))
        .with_writer(writer);
    if json {
        Box::new(builder.json().finish().with(wire_cap(level)))
    } else {
        Box::new(builder.finish().with(wire_cap(level)))
    }
}

/// Installs the subscriber with `writer`; JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON`.
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if let Err(error) = subscriber(level.as_deref(), writer, json).try_init() {
        let _ = writeln!(std::io::stderr(), "logging already initialised: {error}");
    }
}

pub fn init() {
    init_with_writer(std::io::stdout);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn raw_events_stay_out_of_the_logs_even_at_trace() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let logging = subscriber(Some("trace"), move || writer.clone(), false);
        tracing::subscriber::with_default(logging, || {
            tracing::callsite::rebuild_interest_cache();
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "artifactCredentials", "raw JSON event received from Lambda");
            tracing::trace!(target: "stackgate", "visible at trace");
        });
        let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("visible at trace"), "{logged}");
        assert!(!logged.contains("artifactCredentials"), "{logged}");
    }

    /// Logs one trace line as the SDK's orchestrator would and one of stackgate's own.
    fn logged_at(level: &str) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let logging = subscriber(Some(level), move || writer.clone(), false);
        tracing::subscriber::with_default(logging, || {
            tracing::callsite::rebuild_interest_cache();
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator::http", response = "taskToken-on-the-wire", "read HTTP response body");
            tracing::trace!(target: "stackgate::tasks", "own trace line");
        });
        let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        logged
    }

    #[test]
    fn sdk_wire_logs_stay_out_even_when_asked_for_by_name() {
        for level in [
            "trace",
            "TRACE",
            "info,aws_smithy_runtime=trace",
            "aws_smithy_runtime::client::orchestrator=trace,stackgate=trace",
            "aws_smithy_runtime[{x}]=trace,stackgate=trace",
        ] {
            let logged = logged_at(level);
            assert!(
                !logged.contains("taskToken-on-the-wire"),
                "{level}: {logged}"
            );
        }
        assert!(logged_at("trace").contains("own trace line"));
        // A malformed setting still logs, at the default level.
        assert!(!logged_at("not a level =").contains("taskToken-on-the-wire"));
    }

    /// What the wire targets write at each level: one line of each level, as the SDK would.
    fn wire_lines_at(level: Option<&str>) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let logging = subscriber(level, move || writer.clone(), false);
        tracing::subscriber::with_default(logging, || {
            tracing::callsite::rebuild_interest_cache();
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "wire-trace");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "wire-debug");
            tracing::info!(target: "hyper_util::client", "wire-info");
            tracing::warn!(target: "aws_sigv4::http_request", "wire-warn");
        });
        let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        logged
    }

    #[test]
    fn wire_targets_log_at_most_the_configured_level_and_never_above_debug() {
        let seen = |level| {
            let logged = wire_lines_at(level);
            ["trace", "debug", "info", "warn"]
                .into_iter()
                .filter(|l| logged.contains(&format!("wire-{l}")))
                .collect::<Vec<_>>()
        };
        // The default (info): the SDK's per-request DEBUG steps stay out.
        assert_eq!(seen(None), ["info", "warn"]);
        assert_eq!(seen(Some("info")), ["info", "warn"]);
        assert_eq!(seen(Some("warn")), ["warn"]);
        assert_eq!(seen(Some("debug")), ["debug", "info", "warn"]);
        assert_eq!(seen(Some("trace")), ["debug", "info", "warn"]);
        assert_eq!(seen(Some("stackgate=trace,info")), ["info", "warn"]);
        // Only a target of stackgate's own asked for: nothing of the wire's.
        assert!(seen(Some("stackgate=trace")).is_empty());
        // A directive raising a wire target is dropped, not obeyed.
        assert_eq!(
            seen(Some("info,aws_smithy_runtime=debug")),
            ["info", "warn"]
        );
    }

    #[test]
    fn no_directive_lifts_the_wire_cap() {
        for level in [
            // A wire target named without a level (EnvFilter reads it as TRACE).
            "info,aws_smithy_runtime::client",
            "info,hyper_util::client",
            // Span and field directives without a target enable every target inside the span.
            "info,[{requestId}]=trace",
            "info,[Lambda runtime invoke]=trace",
            "info,[try_attempt]=trace",
            "trace,[invoke]=trace",
            // Whitespace around directives.
            " trace , aws_smithy_runtime = trace ",
        ] {
            let buffer = Buffer::default();
            let writer = buffer.clone();
            let logging = subscriber(Some(level), move || writer.clone(), false);
            tracing::subscriber::with_default(logging, || {
                tracing::callsite::rebuild_interest_cache();
                let span = tracing::info_span!("try_attempt", requestId = "r-1");
                let _entered = span.enter();
                let invoke = tracing::info_span!("Lambda runtime invoke");
                let _invoke = invoke.enter();
                tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "taskToken-on-the-wire");
                tracing::trace!(target: "hyper_util::client::legacy", "wire-bytes");
                tracing::trace!(target: "lambda_runtime::layers::api_response", "artifactCredentials");
            });
            let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
            for secret in ["taskToken-on-the-wire", "wire-bytes", "artifactCredentials"] {
                assert!(!logged.contains(secret), "{level}: {logged}");
            }
        }
    }

    #[test]
    fn the_json_format_is_capped_the_same_way() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let logging = subscriber(Some("trace"), move || writer.clone(), true);
        tracing::subscriber::with_default(logging, || {
            tracing::callsite::rebuild_interest_cache();
            tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "taskToken-on-the-wire");
            tracing::debug!(target: "aws_smithy_runtime::client::orchestrator", "wire-debug");
            tracing::trace!(target: "stackgate::tasks", "own trace line");
        });
        let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(!logged.contains("taskToken-on-the-wire"), "{logged}");
        assert!(
            logged.contains("wire-debug") && logged.contains("own trace line"),
            "{logged}"
        );
        assert!(logged.lines().all(|l| l.starts_with('{')), "{logged}");
    }

    #[test]
    fn the_cap_holds_against_a_directive_for_lambda_runtime() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let logging = subscriber(
            Some("info,lambda_runtime=trace"),
            move || writer.clone(),
            false,
        );
        tracing::subscriber::with_default(logging, || {
            tracing::callsite::rebuild_interest_cache();
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "sessionToken", "raw event");
            tracing::trace!(target: "lambda_runtime::runtime", "other runtime detail");
        });
        let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("other runtime detail"), "{logged}");
        assert!(!logged.contains("sessionToken"), "{logged}");
    }
}
