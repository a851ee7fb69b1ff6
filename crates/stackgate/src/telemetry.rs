//! Logging set-up shared by every function. Handlers log identifiers only, never whole events:
//! events can carry credentials (CodePipeline's `artifactCredentials`) or task tokens.

use std::io::Write;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Targets that log what crosses the wire at TRACE: lambda_runtime logs each raw event
/// (CodePipeline's `artifactCredentials`, task tokens); the SDK's orchestrator logs whole HTTP
/// requests and responses (task tokens in SendTaskSuccess and GetItem, SecureString values in
/// PutParameter); SigV4 logs the request it signs; the HTTP crates log what they send and receive.
/// They are capped: never above DEBUG, and never above the configured level (at `info`, the SDK's
/// per-request DEBUG steps would otherwise be ~128 lines of every plan).
const WIRE_TARGETS: [&str; 7] = [
    "lambda_runtime::layers::api_response",
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_sigv4",
    "hyper",
    "hyper_util",
    "h2",
];

/// The filter for a configured level (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`):
/// a level or `RUST_LOG`-style directives. Directives naming a capped target are dropped, so the
/// caps hold against them too.
pub fn filter(level: Option<&str>) -> EnvFilter {
    let level = level
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("info");
    let capped = |directive: &str| {
        let target = directive
            .split(['=', '['])
            .next()
            .unwrap_or_default()
            .trim();
        directive.contains('=') && WIRE_TARGETS.iter().any(|t| target.starts_with(t))
    };
    let wanted: Vec<&str> = level
        .split(',')
        .filter(|d| !d.trim().is_empty() && !capped(d))
        .collect();
    let build = |wanted: &[&str]| {
        // The level everything else logs at: the last bare level (as EnvFilter reads it), else
        // nothing.
        let default = wanted
            .iter()
            .rev()
            .find_map(|d| d.trim().parse::<LevelFilter>().ok())
            .unwrap_or(LevelFilter::OFF);
        let cap = default.min(LevelFilter::DEBUG);
        let caps = WIRE_TARGETS.map(|t| format!("{t}={cap}")).join(",");
        EnvFilter::try_new(format!("{},{caps}", wanted.join(",")))
    };
    build(&wanted).unwrap_or_else(|_| build(&["info"]).expect("a valid default filter"))
}

/// Installs the subscriber with `writer`; JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON`.
pub fn init_with_writer<W>(writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter(level.as_deref()))
        .with_writer(writer);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(error) = installed {
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
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(Some("trace")))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
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
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(Some(level)))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
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
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(level))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
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
    fn the_cap_holds_against_a_directive_for_lambda_runtime() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter(Some("info,lambda_runtime=trace")))
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::callsite::rebuild_interest_cache();
            tracing::trace!(target: "lambda_runtime::layers::api_response", body = "sessionToken", "raw event");
            tracing::trace!(target: "lambda_runtime::runtime", "other runtime detail");
        });
        let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("other runtime detail"), "{logged}");
        assert!(!logged.contains("sessionToken"), "{logged}");
    }
}
