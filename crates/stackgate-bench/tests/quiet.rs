//! At the default log level a function writes no DEBUG line: every function's real binary, started
//! by the benchmark's Lambda Runtime API with no level configured (what a deployment gets unless
//! the operator raises `LogLevel`), is invoked twice with its benchmark sample against the local
//! stack, in both log formats. The SDK's per-request steps (at DEBUG they include the access key
//! id) must not appear. The same function at `debug` must write some: the run reached code that
//! logs at DEBUG, and the count can fail.
//!
//! Needs the local stack (`STACKGATE_ENDPOINT`) and the functions built in the dev profile, as
//! `scripts/test.sh` provides: `cargo test -p stackgate-bench --test quiet -- --ignored`.

use std::time::Duration;

use stackgate_bench::functions;
use stackgate_bench::runtime_api::{cold_start, ColdStart};
use stackgate_local::{endpoint, repo_root};

/// The local stack's function environment, with the level left to the code's default or set, in
/// the text or the JSON format.
fn environment(level: Option<&str>, json: bool) -> Vec<(String, String)> {
    let mut env = functions::local_environment(
        &repo_root(),
        &["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG", "AWS_LAMBDA_LOG_FORMAT"],
    );
    if let Some(level) = level {
        env.push(("AWS_LAMBDA_LOG_LEVEL".into(), level.into()));
    }
    let format = if json { "JSON" } else { "text" };
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), format.into()));
    env
}

async fn run(function: &str, level: Option<&str>, json: bool) -> ColdStart {
    let repo = repo_root();
    let binary = functions::dev_binary(&repo, function).unwrap_or_else(|e| panic!("{e}"));
    let mut process = functions::process(function, binary, &environment(level, json));
    if function == "activity-dispatcher" {
        // Its template timeout: it polls only while a long poll still fits.
        process.timeout = Duration::from_secs(300);
    }
    let health = format!("{}/_local/health", endpoint());
    let event = functions::event(&repo, function, &health).unwrap_or_else(|e| panic!("{e}"));
    cold_start(&process, &[event.clone(), event])
        .await
        .unwrap_or_else(|e| panic!("{function}: {e}"))
}

#[tokio::test]
#[ignore = "needs the local stack and the dev binaries (scripts/test.sh)"]
async fn no_function_writes_a_debug_line_at_the_default_level() {
    for function in functions::function_names(&repo_root()).unwrap() {
        for json in [false, true] {
            let run = run(&function, None, json).await;
            assert_eq!(
                run.verbose_lines(),
                0,
                "{function} (JSON: {json}) wrote DEBUG or TRACE lines at the default level:\n{}",
                run.output
            );
        }
        let run = run(&function, Some("debug"), false).await;
        assert!(
            run.verbose_lines() > 0,
            "{function} at debug wrote no DEBUG line: the count proves nothing\n{}",
            run.output
        );
    }
}
