//! The baselines: check-stack as Python and Node.js would run it (benches/baselines), started
//! by the same Runtime API harness. Installed by `scripts/bootstrap.sh bench` under STACKGATE_HOME.

use std::path::{Path, PathBuf};

use crate::runtime_api::Process;

/// A baseline runtime, or why it is missing.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub name: &'static str,
    /// How the process runs (runtime interface client, versions).
    pub runtime: String,
    pub process: Result<Process, String>,
}

/// Python 3 + boto3 under `awslambdaric`.
pub fn python(repo: &Path, home: &Path, env: &[(String, String)]) -> Baseline {
    let interpreter = home.join("venv-bench-python/bin/python");
    let task_root = repo.join("benches/baselines/python");
    let process = if interpreter.is_file() {
        let mut env = crate::functions::bench_environment(env);
        env.push(("LAMBDA_TASK_ROOT".into(), task_root.display().to_string()));
        env.push(("PYTHONPATH".into(), task_root.display().to_string()));
        Ok(Process {
            function_name: "check-stack-python".into(),
            program: interpreter,
            args: vec![
                "-m".into(),
                "awslambdaric".into(),
                "check_stack.handler".into(),
            ],
            cwd: Some(task_root),
            env,
            timeout: crate::runtime_api::DEFAULT_TIMEOUT,
        })
    } else {
        Err(format!(
            "{} is missing: run scripts/bootstrap.sh bench",
            interpreter.display()
        ))
    };
    Baseline {
        name: "python",
        runtime: "Python 3 + boto3 under awslambdaric".into(),
        process,
    }
}

/// Node.js + AWS SDK v3 under the npm runtime interface client when it installed here, else
/// under a minimal Runtime API loop (which the output says).
pub fn node(home: &Path, env: &[(String, String)]) -> Baseline {
    let dir = home.join("bench-node");
    let status = std::fs::read_to_string(dir.join("ric.status")).unwrap_or_default();
    let ric = dir.join("node_modules/aws-lambda-ric/index.mjs");
    let installed = status.trim() == "installed" && ric.is_file();
    let node = which("node");
    let runtime = if installed {
        "Node.js + AWS SDK v3 under aws-lambda-ric".to_string()
    } else {
        format!(
            "Node.js + AWS SDK v3 under a minimal Runtime API loop (aws-lambda-ric {})",
            if status.trim().is_empty() {
                "not installed"
            } else {
                status.trim()
            }
        )
    };
    let process = match node {
        Some(node) if dir.join("index.mjs").is_file() => {
            let mut env = crate::functions::bench_environment(env);
            env.push(("LAMBDA_TASK_ROOT".into(), dir.display().to_string()));
            env.push(("_HANDLER".into(), "index.handler".into()));
            let args = if installed {
                vec![ric.display().to_string(), "index.handler".into()]
            } else {
                vec!["runtime.mjs".into()]
            };
            Ok(Process {
                function_name: "check-stack-node".into(),
                program: node,
                args,
                cwd: Some(dir),
                env,
                timeout: crate::runtime_api::DEFAULT_TIMEOUT,
            })
        }
        Some(_) => Err(format!(
            "{} is missing: run scripts/bootstrap.sh bench",
            dir.display()
        )),
        None => Err("node is not on PATH".into()),
    };
    Baseline {
        name: "node",
        runtime,
        process,
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_install_is_reported_not_run() {
        let nowhere = Path::new("/nonexistent-stackgate-home");
        let python = python(&stackgate_local::repo_root(), nowhere, &[]);
        assert!(python.process.unwrap_err().contains("bootstrap.sh bench"));
        let node = node(nowhere, &[]);
        assert!(node.runtime.contains("not installed"), "{}", node.runtime);
        assert!(node.process.is_err());
    }

    #[test]
    fn the_baseline_handlers_exist_beside_the_benchmark() {
        let root = stackgate_local::repo_root().join("benches/baselines");
        assert!(root.join("python/check_stack.py").is_file());
        assert!(root.join("node/index.mjs").is_file());
        assert!(root.join("node/runtime.mjs").is_file());
    }
}
