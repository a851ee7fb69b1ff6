//! `stackgate-bench`: runs the whole benchmark against a running local stack and writes
//! docs/performance.json and docs/performance.md. `scripts/bench.sh` builds, installs and starts
//! what it needs, then calls this.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use serde_json::Value;
use stackgate_bench::baseline::{self, Baseline};
use stackgate_bench::functions::{self, parse_env_file};
use stackgate_bench::report::{self, FunctionResult, Machine, Report};
use stackgate_bench::runtime_api::{cold_start, Process};
use stackgate_bench::workflow::{self, Counts, PathCost, PathRun, LATENCIES, PATHS};
use stackgate_bench::BenchError;
use stackgate_bench::{page, release, stage};
use stackgate_local::{endpoint, repo_root, LocalClients};

#[derive(Debug, Parser)]
#[command(about = "Benchmark stackgate's functions and workflow (needs the local stack up)")]
struct Args {
    /// Cold starts per function and baseline.
    #[arg(long, default_value_t = 20)]
    cold_starts: usize,
    /// Warm invocations after each cold start.
    #[arg(long, default_value_t = 5)]
    warm: usize,
    /// Runs of each safe-deploy path (and of the polling baseline's) timed for the orchestration
    /// overhead.
    #[arg(long, default_value_t = 20)]
    overhead_runs: usize,
    /// Where the tools were installed (scripts/bootstrap.sh); default $STACKGATE_HOME or .stackgate.
    #[arg(long)]
    home: Option<PathBuf>,
    /// Cargo's target directory holding the release binaries; default $CARGO_TARGET_DIR or target.
    #[arg(long)]
    target_dir: Option<PathBuf>,
    /// The functions' environment (written by scripts/local-stack.sh).
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// The command named in the generated page.
    #[arg(long, default_value = "scripts/bench.sh")]
    command: String,
    /// When that command started (Unix seconds), to report its whole duration, builds included.
    #[arg(long)]
    command_started: Option<u64>,
    /// The command found nothing built and no tools installed (scripts/bench.sh decides).
    #[arg(long)]
    fresh: bool,
}

async fn measure(
    name: &str,
    runtime: &str,
    process: &Process,
    event: &Value,
    args: &Args,
    zip: Option<u64>,
) -> FunctionResult {
    let mut runs = Vec::with_capacity(args.cold_starts);
    for _ in 0..args.cold_starts {
        match cold_start(process, &stage::invocations(event, 1 + args.warm)).await {
            Ok(mut run) => {
                for (invocation, answer) in run.invocations.iter_mut().zip(&run.answers) {
                    invocation.error |= !stage::normal_answer(answer);
                }
                runs.push(run);
            }
            Err(error) => return FunctionResult::failed(name, runtime, error.to_string()),
        }
    }
    let result = FunctionResult::from_runs(name, runtime, &runs, zip);
    eprintln!(
        "  {name}: init {:.2} ms, warm {:.2} ms, peak {:.1} MiB",
        result.init_ms.unwrap_or_default(),
        result.warm_invocation_ms.unwrap_or_default(),
        result.peak_rss_mib.unwrap_or_default()
    );
    result
}

async fn measure_baseline(baseline: Baseline, event: &Value, args: &Args) -> FunctionResult {
    match &baseline.process {
        Ok(process) => measure(baseline.name, &baseline.runtime, process, event, args, None).await,
        Err(why) => FunctionResult::failed(baseline.name, &baseline.runtime, why.clone()),
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let memory_kib: f64 = field(&meminfo, "MemTotal")
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or(0.0);
    let command = |program: &str, arg: &str| {
        std::process::Command::new(program)
            .arg(arg)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    Machine {
        cpu: field(&cpuinfo, "model name"),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_gib: memory_kib / 1024.0 / 1024.0,
        kernel: command("uname", "-r"),
        rustc: command("rustc", "--version"),
    }
}

// Long by design: the benchmark's steps in the order they run (build, stage, measure, compare,
// write); each step is a call, and splitting the sequence would hide the order.
async fn run(args: Args) -> Result<(), BenchError> {
    let started = Instant::now();
    let repo = repo_root();
    let from_env = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let home = args
        .home
        .clone()
        .or_else(|| from_env("STACKGATE_HOME"))
        .unwrap_or_else(|| repo.join(".stackgate"));
    let target = args
        .target_dir
        .clone()
        .unwrap_or_else(|| functions::target_dir(&repo));
    let env_file = args
        .env_file
        .clone()
        .unwrap_or_else(|| functions::local_env_file(&repo));
    let env = parse_env_file(&std::fs::read_to_string(&env_file).map_err(|e| {
        BenchError::Measure(format!(
            "{}: {e} (is the local stack up?)",
            env_file.display()
        ))
    })?);
    let health_url = format!("{}/_local/health", endpoint());
    let clients = LocalClients::connect(&endpoint()).await;
    let env = stage::starting(&env, &stage::start_target(&clients).await?);

    eprintln!(
        "== functions ({} cold starts x {} warm invocations each)",
        args.cold_starts, args.warm
    );
    // Everything is staged before anything is timed, so that every function sees the same stack.
    let mut events = Vec::new();
    for name in functions::function_names(&repo)? {
        let mut event = functions::event(&repo, &name, &health_url)?;
        stage::stage(&repo, &clients, &endpoint(), &env, &mut event).await?;
        events.push((name, event));
    }
    let baseline_task = functions::BASELINE_TASK;
    let mut check_event = functions::event(&repo, baseline_task, &health_url)?;
    stage::stage(&repo, &clients, &endpoint(), &env, &mut check_event).await?;
    let mut results = Vec::new();
    for (name, event) in events {
        let binary = functions::binary(&target, "release", &name);
        if !binary.is_file() {
            results.push(FunctionResult::failed(
                &name,
                "Rust",
                format!("{} is not built", binary.display()),
            ));
            continue;
        }
        let zip = functions::zip_size(&binary)?;
        let process = functions::process(&name, binary, &env);
        results.push(measure(&name, "Rust (release)", &process, &event, &args, Some(zip)).await);
    }
    let binary = functions::binary(&target, "release", baseline_task);
    let zip = functions::zip_size(&binary)?;
    let process = functions::process(baseline_task, binary, &env);
    results.push(
        measure(
            baseline_task,
            "Rust (release)",
            &process,
            &check_event,
            &args,
            Some(zip),
        )
        .await,
    );
    let untuned_function = functions::UNTUNED_FUNCTION;
    let untuned_binary = functions::binary(&target, "release-untuned", untuned_function);
    let untuned = if untuned_binary.is_file() {
        eprintln!("== {untuned_function} with the untuned release profile");
        let event = functions::event(&repo, untuned_function, &health_url)?;
        let zip = functions::zip_size(&untuned_binary)?;
        let process = functions::process(untuned_function, untuned_binary, &env);
        let mut result = measure(
            untuned_function,
            "Rust (untuned)",
            &process,
            &event,
            &args,
            Some(zip),
        )
        .await;
        result.name = format!(
            "{untuned_function} (untuned release: no LTO, 16 codegen units, not stripped, opt-level 3)"
        );
        Some(result)
    } else {
        None
    };

    eprintln!("== the floor: {}", functions::FLOOR_FUNCTION);
    let floor_binary = functions::binary(&target, "release", functions::FLOOR_FUNCTION);
    let floor = if floor_binary.is_file() {
        let process = functions::process(functions::FLOOR_FUNCTION, floor_binary, &env);
        let event = serde_json::json!({"echo": "floor"});
        Some(
            measure(
                functions::FLOOR_FUNCTION,
                "Rust (release)",
                &process,
                &event,
                &args,
                None,
            )
            .await,
        )
    } else {
        None
    };

    eprintln!("== baselines");
    let baselines = vec![
        measure_baseline(baseline::python(&repo, &home, &env), &check_event, &args).await,
        measure_baseline(baseline::node(&home, &env), &check_event, &args).await,
    ];
    let ours = results.iter().find(|f| f.name == "check-stack").cloned();
    let ratios = ours
        .iter()
        .flat_map(|ours| {
            baselines
                .iter()
                .filter(|b| b.failure.is_none())
                .map(|b| report::ratios(ours, b))
        })
        .collect();

    eprintln!(
        "== workflow cost and orchestration overhead ({} runs of each path)",
        args.overhead_runs
    );
    let rounds = workflow::stackgate_paths(&clients, args.overhead_runs).await?;
    let local: Vec<Counts> = rounds[0].iter().map(|run| run.counts).collect();
    let (polling_machine, lambdas) = workflow::deploy_polling_baseline(&clients, &repo).await?;
    let our_ms = ours
        .as_ref()
        .and_then(|f| f.warm_invocation_ms)
        .unwrap_or(0.0);
    let polling_ms = baselines
        .iter()
        .find(|b| b.name == "node")
        .and_then(|b| b.warm_invocation_ms)
        .unwrap_or(our_ms);
    let mut costs = Vec::new();
    for latency in &LATENCIES {
        for (path, measured) in PATHS.iter().zip(&local) {
            let polling =
                workflow::polling_path(&clients, &polling_machine, &lambdas, *path, latency)
                    .await?
                    .counts;
            let (stackgate, stackgate_seconds) =
                workflow::stackgate_under(*path, *measured, latency, our_ms);
            let polling_seconds = polling.lambda_invocations as f64 * polling_ms.ceil() / 1000.0;
            costs.push(PathCost {
                path: *path,
                latency: latency.name,
                stackgate,
                polling,
                stackgate_lambda_seconds: stackgate_seconds,
                polling_lambda_seconds: polling_seconds,
                stackgate_usd_per_1000: workflow::cost_per_1000(stackgate, stackgate_seconds),
                polling_usd_per_1000: workflow::cost_per_1000(polling, polling_seconds),
            });
        }
    }

    eprintln!("== releases of {:?} stacks", release::SIZES);
    let mut releases = Vec::new();
    for stacks in release::SIZES {
        let run = release::run(&clients, stacks, our_ms).await?;
        eprintln!(
            "  {stacks} stacks: {} transitions, {} history events, {:.0} s",
            run.release.transitions + run.deployments.transitions,
            run.history_events,
            run.run_seconds
        );
        releases.push(run);
    }

    let mut overhead = Vec::new();
    for (index, path) in PATHS.iter().enumerate() {
        let ours: Vec<PathRun> = rounds.iter().map(|round| round[index]).collect();
        let mut polling = Vec::new();
        for _ in 0..args.overhead_runs {
            polling.push(
                workflow::polling_path(&clients, &polling_machine, &lambdas, *path, &LATENCIES[0])
                    .await?,
            );
        }
        overhead.extend(workflow::overhead(*path, &ours, &polling));
    }

    let command_seconds = args.command_started.and_then(|started| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some(now.as_secs().saturating_sub(started) as f64)
    });
    let mut targets = report::targets(&results, &baselines, ours.as_ref(), &costs);
    targets.push(report::floor_target(&results, floor.as_ref()));
    targets.push(report::quiet_target(&results));
    targets.extend(report::cost_target(&costs));
    targets.extend(report::lambda_time_target(&costs));
    targets.extend(report::overhead_target(&overhead));
    targets.extend(report::release_target(&releases));
    targets.extend(report::whole_command_target(command_seconds, args.fresh));
    let report = Report {
        generated_at: aws_smithy_types::DateTime::from(std::time::SystemTime::now())
            .fmt(aws_smithy_types::date_time::Format::DateTime)
            .unwrap_or_default(),
        machine: machine(),
        cold_starts_per_function: args.cold_starts,
        warm_invocations_per_cold_start: args.warm,
        functions: results,
        baselines,
        ratios,
        untuned,
        floor,
        workflow: costs,
        overhead,
        releases,
        targets,
        seconds: started.elapsed().as_secs_f64(),
        command_seconds,
        fresh: args.fresh,
    };
    let page = page::markdown(&report, &args.command);
    std::fs::write(
        repo.join("docs/performance.json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(repo.join("docs/performance.md"), &page)?;
    println!("{page}");
    eprintln!("written: docs/performance.md, docs/performance.json");
    Ok(())
}

#[tokio::main]
async fn main() {
    if let Err(error) = run(Args::parse()).await {
        eprintln!("stackgate-bench: {error}");
        std::process::exit(1);
    }
}
