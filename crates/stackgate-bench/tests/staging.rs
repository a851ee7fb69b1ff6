//! The benchmark times each function on its normal path: every sample event, staged on the local
//! stack by `stage::stage`, is answered by the function's real binary (under the benchmark's
//! Runtime API) with a normal answer, twice in one process, as the benchmark invokes it. A sample
//! that drifts into an error path (an expired link, a missing stack or input file, a job answered
//! twice) fails here instead of being timed.
//!
//! Needs the local stack (`STACKGATE_ENDPOINT`) and the functions built in the dev profile, as
//! `scripts/test.sh` provides: `cargo test -p stackgate-bench --test staging -- --ignored`.

use std::path::PathBuf;

use stackgate_bench::functions;
use stackgate_bench::runtime_api::cold_start;
use stackgate_bench::stage;
use stackgate_local::{endpoint, repo_root, LocalClients};

fn binary(function: &str) -> PathBuf {
    functions::dev_binary(&repo_root(), function).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
#[ignore = "needs the local stack and the dev binaries (scripts/test.sh)"]
async fn every_staged_sample_takes_its_functions_normal_path() {
    let repo = repo_root();
    let clients = LocalClients::connect(&endpoint()).await;
    let target = stage::start_target(&clients).await.unwrap();
    let env = stage::starting(&functions::local_environment(&repo, &[]), &target);
    let health_url = format!("{}/_local/health", endpoint());
    let baseline_task = functions::BASELINE_TASK;
    let mut names = functions::function_names(&repo).unwrap();
    names.push(baseline_task.to_string());
    for name in names {
        let mut event = functions::event(&repo, &name, &health_url).unwrap();
        stage::stage(&repo, &clients, &endpoint(), &env, &mut event)
            .await
            .unwrap_or_else(|e| panic!("{name}: staging: {e}"));
        let process = functions::process(&name, binary(&name), &env);
        let run = cold_start(&process, &stage::invocations(&event, 2))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(run.answers.len(), 2, "{name}");
        for (invocation, answer) in run.invocations.iter().zip(&run.answers) {
            assert!(
                !invocation.error && stage::normal_answer(answer),
                "{name} did not take its normal path: {answer}"
            );
        }
    }
}
