//! The functions under test: every crate in `functions/`, its release binary, the sample event it
//! is invoked with and the size of its deployment zip.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::runtime_api::Process;
use crate::BenchError;

/// Functions benchmarked with a sample other than `events/<function>.json` (the default: a new
/// function with that sample needs nothing here).
pub const EVENT_OVERRIDES: &[(&str, &str)] = &[
    ("approval-api", "approval-api/show.json"),
    ("maintenance-mode", "maintenance-mode-suspend.json"),
    ("pipeline-trigger", "pipeline-trigger-first.json"),
    ("stacks-api", "stacks-api/get-stack.json"),
];

/// The sample event file (under `events/`) `function` is benchmarked with.
pub fn event_file(function: &str) -> String {
    EVENT_OVERRIDES
        .iter()
        .find(|(name, _)| *name == function)
        .map_or_else(|| format!("{function}.json"), |(_, file)| file.to_string())
}

/// The task compared with Python and Node.js: check-stack, the plan's first step, built as a
/// binary of its own (`crates/check-stack`, not deployed) since the deployment runs it inside
/// create-change-set.
pub const BASELINE_TASK: &str = "check-stack";

/// The floor every function's init is measured against (`crates/echo-floor`, not deployed): the
/// functions' runtime echoing its event, no SDK.
pub const FLOOR_FUNCTION: &str = "echo-floor";

/// The function built a second time with the untuned release profile to show what the tuned one
/// buys: health-check, the one function that does not need the AWS SDK, so that the second build
/// (dependencies included) stays short on a fresh machine.
pub const UNTUNED_FUNCTION: &str = "health-check";

/// The function crates in `functions/`, sorted.
pub fn function_names(repo: &Path) -> Result<Vec<String>, BenchError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(repo.join("functions"))? {
        let entry = entry?;
        if entry.path().join("Cargo.toml").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// The event `function` is benchmarked with; `health_url` replaces the sample's unreachable
/// health endpoint so that the check measures the function, not a connect timeout.
pub fn event(repo: &Path, function: &str, health_url: &str) -> Result<Value, BenchError> {
    let file = event_file(function);
    let path = repo.join("events").join(&file);
    if !path.is_file() {
        return Err(BenchError::Measure(format!(
            "no benchmark event for {function}: add events/{file}"
        )));
    }
    let mut event: Value = serde_json::from_slice(&std::fs::read(path)?)?;
    if function == "health-check" {
        event["url"] = Value::String(health_url.to_string());
    }
    Ok(event)
}

/// The release binary of `function`.
pub fn binary(target_dir: &Path, profile: &str, function: &str) -> PathBuf {
    target_dir.join(profile).join(function)
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else the workspace's `target/`.
pub fn target_dir(repo: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo.join("target"))
}

/// The dev-profile binary of `function`, as `scripts/test.sh` builds it for the tests that run the
/// real binaries.
pub fn dev_binary(repo: &Path, function: &str) -> Result<PathBuf, BenchError> {
    let binary = binary(&target_dir(repo), "debug", function);
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(BenchError::Measure(format!(
            "{} is not built: cargo build --workspace --bins",
            binary.display()
        )))
    }
}

/// The size of the deployment zip: the binary stored as `bootstrap`, deflated, as Lambda's
/// `provided.al2023` runtime takes it.
pub fn zip_size(binary: &Path) -> Result<u64, BenchError> {
    let bytes = std::fs::read(binary)?;
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755);
    archive.start_file("bootstrap", options)?;
    archive.write_all(&bytes)?;
    Ok(archive.finish()?.into_inner().len() as u64)
}

/// How the function's process is started: its binary with the local stack's function
/// environment (the template's variables, pointed at the local stack).
pub fn process(function: &str, binary: PathBuf, env: &[(String, String)]) -> Process {
    Process {
        function_name: function.to_string(),
        program: binary,
        args: Vec::new(),
        cwd: None,
        env: bench_environment(env),
        timeout: crate::runtime_api::DEFAULT_TIMEOUT,
    }
}

/// The environment a function runs with here: the local stack's, signed with the benchmark's own
/// key. The benchmark points every StartExecution at a target of its own, which no function's role
/// names, so its runs are not held to the functions' roles (the end-to-end suites are: docs/local-stack.md,
/// IAM); moto treats a key no role carries as an administrator's, except the functions' own prefix.
pub fn bench_environment(env: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = env
        .iter()
        .filter(|(key, _)| key != "AWS_ACCESS_KEY_ID")
        .cloned()
        .collect();
    env.push((
        "AWS_ACCESS_KEY_ID".to_string(),
        BENCH_ACCESS_KEY.to_string(),
    ));
    env
}

/// The key benchmark runs sign with.
pub const BENCH_ACCESS_KEY: &str = "stackgate-bench";

pub use stackgate_local::samples::{local_env_file, parse_env_file};

/// The running local stack's function environment (`local-stack.sh up` writes it) without the
/// settings `without`, for the tests that run the real binaries under settings of their own.
pub fn local_environment(repo: &Path, without: &[&str]) -> Vec<(String, String)> {
    let file = local_env_file(repo);
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (is the local stack up?)", file.display()));
    parse_env_file(&text)
        .into_iter()
        .filter(|(key, _)| !without.contains(&key.as_str()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        stackgate_local::repo_root()
    }

    #[test]
    fn every_function_has_a_benchmark_event_that_parses() {
        let names = function_names(&repo()).unwrap();
        assert!(names.len() >= 11, "{names:?}");
        assert!(event(&repo(), BASELINE_TASK, "http://127.0.0.1:1/health")
            .unwrap()
            .is_object());
        for name in &names {
            let event = event(&repo(), name, "http://127.0.0.1:1/health").unwrap();
            assert!(event.is_object(), "{name}");
        }
        for (name, _) in EVENT_OVERRIDES {
            assert!(names.iter().any(|n| n == name), "{name} is not a function");
        }
    }

    #[test]
    fn the_health_check_is_pointed_at_a_reachable_endpoint() {
        let event = event(
            &repo(),
            "health-check",
            "http://127.0.0.1:4566/_local/health",
        )
        .unwrap();
        assert_eq!(event["url"], "http://127.0.0.1:4566/_local/health");
    }

    #[test]
    fn the_untuned_function_exists() {
        assert!(function_names(&repo())
            .unwrap()
            .iter()
            .any(|name| name == UNTUNED_FUNCTION));
    }

    #[test]
    fn a_zip_is_smaller_than_a_compressible_binary() {
        let dir = std::env::temp_dir().join(format!("stackgate-bench-zip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bootstrap");
        std::fs::write(&file, vec![7u8; 100_000]).unwrap();
        let size = zip_size(&file).unwrap();
        assert!(size > 0 && size < 10_000, "{size}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
