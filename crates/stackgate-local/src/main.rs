use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

use stackgate_local::{
    demo, deploy, endpoint, faults, frontdoor, pipeline, samples, BoxError, LocalClients,
};

/// The stackgate local stack (see scripts/local-stack.sh, which starts the processes).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the front door: Lambda Invoke to cargo-lambda, everything else to moto.
    Frontdoor {
        #[arg(long, default_value = "127.0.0.1:4566")]
        listen: std::net::SocketAddr,
        #[arg(long, default_value = "127.0.0.1:4567")]
        moto: String,
        #[arg(long, default_value = "127.0.0.1:9000")]
        lambda: String,
        /// AWS faults to inject into the functions' and state machines' calls, e.g.
        /// `throttle=0.1,5xx=0.05,timeout=0.02,seed=7` (default: `STACKGATE_FAULTS`, else none).
        #[arg(long)]
        faults: Option<String>,
    },
    /// Print the functions' environment (from template.yaml), as an env file for cargo-lambda.
    EnvFile {
        /// KEY=VALUE for variables whose template value has no local equivalent.
        #[arg(long = "set")]
        overrides: Vec<String>,
    },
    /// Create the template's topics, buckets and state machines on the running local stack.
    Deploy {
        /// The template as `scripts/sam-translate.py` expands it: its IAM roles are created too,
        /// and each function then runs under its own (`scripts/moto_iam.py`).
        #[arg(long)]
        translated: Option<PathBuf>,
    },
    /// Run the main job: create, safe update, unsafe refused, no changes.
    Demo,
    /// Write the Mermaid diagram of every statemachines/*.asl.json to docs/statemachines/.
    Diagrams,
    /// Check a template against the project's IAM, encryption and API rules (fails on a violation).
    CheckTemplate {
        #[arg(default_value = "template.yaml")]
        template: PathBuf,
    },
    /// Check that every state machine's role grants what its tasks call (the template as
    /// `scripts/sam-translate.py` expands it: plain CloudFormation JSON).
    CheckIam { translated: PathBuf },
    /// Write docs/reliability.md from the records the hardening tests left (scripts/reliability.sh),
    /// or with --check fail when it differs from what they give.
    ReliabilityReport {
        /// The directory the tests wrote their records to (`STACKGATE_REPORT_DIR`).
        #[arg(long)]
        records: PathBuf,
        #[arg(long, default_value = "docs/reliability.md")]
        doc: PathBuf,
        #[arg(long)]
        check: bool,
    },
    /// Check the faults the running local stack injected (`STACKGATE_FAULTS`): at least `--minimum`
    /// of each kind, printed, and recorded for docs/reliability.md with the suites that ran under them.
    FaultReport {
        #[arg(long, default_value_t = 5)]
        minimum: u64,
        /// The end-to-end test filters that ran under the faults.
        #[arg(long = "suite")]
        suites: Vec<String>,
    },
    /// Many concurrent requests to the stacks API on the running local stack: distinct stacks,
    /// duplicates with the same Idempotency-Key, deployments of a few shared stacks. Fails when one
    /// execution per request, nothing new per duplicate, one deployment per stack at a time or the
    /// right outcome does not hold; prints the figures (p50/p99 latency) and, with --record, writes
    /// them for docs/reliability.md.
    Load {
        #[arg(long, default_value_t = 200)]
        requests: usize,
        #[arg(long, default_value_t = 4)]
        shared_stacks: usize,
        /// Requests in flight at once. cargo-lambda serves one invocation per function at a time
        /// and these reach it directly (not through the front door's gate), so keep it well under
        /// 100 - `INVOKES_WAITING_PER_FUNCTION`.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        #[arg(long)]
        record: Option<PathBuf>,
    },
    /// Run a CodePipeline job as CodePipeline would: invoke pipeline-trigger with the job event and
    /// again with each continuation token, until the job is answered finally.
    PipelineRun {
        /// The first-call job event.
        #[arg(long, default_value = "events/pipeline-trigger-first.json")]
        event: PathBuf,
        /// The template put in the revision zip the event's input artifact names.
        #[arg(long, default_value = "examples/templates/app-v1.yaml")]
        template: PathBuf,
        /// The stack (`pipeline-<name>`) the input file deploys.
        #[arg(long, default_value = "app")]
        stack: String,
        /// Keep the event's job id instead of a fresh one (a job can be answered finally only once).
        #[arg(long)]
        keep_job_id: bool,
    },
    /// Stage on the running local stack what every sample in events/ names as it is written
    /// (templates, the pipeline's revision and input file, the stacks waited on and read), so that
    /// `cargo lambda invoke ... --data-file events/<sample>` takes the function's normal path
    /// (`scripts/local-stack.sh up` runs it).
    StageSamples,
    /// The figures the CloudWatch dashboard shows in AWS, from the functions' log on the running
    /// local stack (their embedded-metric-format lines): deployments by environment and outcome,
    /// refusals by reason, plan and stack operation durations, approvals, pipeline jobs.
    Metrics {
        /// The log to read (default: the running local stack's `lambda.log`).
        #[arg(long)]
        log: Option<PathBuf>,
        /// One JSON array of series instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print a sample event ready to invoke: staged, and with new values where its normal path works
    /// once (a CodePipeline job id, an approval link to a pending approval signed for a day).
    Sample {
        /// The sample, e.g. events/approval-api/show.json.
        file: PathBuf,
    },
}

#[tokio::main]
// Long by design: one arm per subcommand, each a few lines of glue to the library.
async fn main() -> Result<(), BoxError> {
    match Cli::parse().command {
        Command::Frontdoor {
            listen,
            moto,
            lambda,
            faults,
        } => {
            let faults = faults
                .or_else(|| std::env::var("STACKGATE_FAULTS").ok())
                .filter(|spec| !spec.trim().is_empty())
                .map(|spec| faults::Spec::parse(&spec).map(|parsed| (spec, parsed)))
                .transpose()?;
            frontdoor::serve(listen, frontdoor::Upstreams { moto, lambda }, faults).await?;
        }
        Command::FaultReport { minimum, suites } => {
            let url = format!("{}/_local/faults", endpoint());
            let (status, body) =
                stackgate_local::http::call(hyper::Method::GET, &url, None).await?;
            let answer: serde_json::Value = serde_json::from_slice(&body)?;
            println!("{answer}");
            if status != 200 || answer["spec"].is_null() {
                return Err(
                    "the local stack injects no faults (start it with STACKGATE_FAULTS)".into(),
                );
            }
            for kind in [
                faults::Kind::Throttle,
                faults::Kind::ServerError,
                faults::Kind::Timeout,
            ] {
                let injected = answer["tally"]["injected"][kind.name()]
                    .as_u64()
                    .unwrap_or(0);
                if injected < minimum {
                    return Err(format!(
                        "only {injected} {} faults were injected (at least {minimum} wanted): the run proved too little",
                        kind.name()
                    )
                    .into());
                }
            }
            stackgate_local::reliability::record(
                "faults",
                "workflows",
                &serde_json::json!({"spec": answer["spec"], "suites": suites, "minimum": minimum}),
            );
        }
        Command::EnvFile { overrides } => {
            let overrides = overrides
                .iter()
                .map(|o| {
                    o.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .ok_or_else(|| format!("--set takes KEY=VALUE, got {o:?}"))
                })
                .collect::<Result<_, _>>()?;
            for (key, value) in deploy::load_template()?.function_environment(&overrides)? {
                println!("{key}={value}");
            }
        }
        Command::Deploy { translated } => {
            let endpoint = endpoint();
            let clients = LocalClients::connect(&endpoint).await;
            if translated.is_none() {
                eprintln!("no --translated template: IAM roles not created, functions act as administrators");
            }
            for arn in deploy::deploy(&clients, &endpoint, translated.as_deref()).await? {
                println!("state machine {arn}");
            }
        }
        Command::Metrics { log, json } => {
            let log = log.unwrap_or_else(|| {
                samples::run_dir(&stackgate_local::repo_root()).join("lambda.log")
            });
            let text = std::fs::read_to_string(&log)
                .map_err(|e| format!("cannot read {}: {e}", log.display()))?;
            let series = stackgate_local::metrics::series(&text);
            if json {
                println!("{}", serde_json::to_string_pretty(&series)?);
            } else {
                print!("{}", stackgate_local::metrics::render(&series));
            }
        }
        Command::StageSamples => {
            let clients = LocalClients::connect(&endpoint()).await;
            let root = stackgate_local::repo_root();
            for (file, staged) in samples::stage_all(&root, &clients).await? {
                println!("{}: {staged}", file.display());
            }
        }
        Command::Sample { file } => {
            let clients = LocalClients::connect(&endpoint()).await;
            let root = stackgate_local::repo_root();
            let mut event = samples::read(&root, &file)?;
            let managed = !samples::shows_an_unmanaged_stack(&file);
            samples::stage(&root, &clients, &event, managed).await?;
            let env_file = samples::local_env_file(&root);
            let env =
                samples::parse_env_file(&std::fs::read_to_string(&env_file).map_err(|e| {
                    format!("{}: {e} (is the local stack up?)", env_file.display())
                })?);
            samples::fresh(&clients, &env, &mut event).await?;
            println!("{}", serde_json::to_string_pretty(&event)?);
        }
        Command::PipelineRun {
            event,
            template,
            stack,
            keep_job_id,
        } => {
            let endpoint = endpoint();
            let clients = LocalClients::connect(&endpoint).await;
            let root = stackgate_local::repo_root();
            let mut event: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(root.join(&event))?)?;
            if !keep_job_id {
                event["CodePipeline.job"]["id"] = serde_json::json!(pipeline::fresh_job_id());
            }
            let template = std::fs::read_to_string(root.join(&template))?;
            pipeline::prepare(&clients, &event, &template, "pipeline", &stack).await?;
            println!("job {}", event["CodePipeline.job"]["id"]);
            let record = pipeline::run_job(
                &endpoint,
                event,
                Duration::from_secs(1),
                Duration::from_secs(300),
            )
            .await?;
            println!("{}", serde_json::to_string_pretty(&record)?);
        }
        Command::Load {
            requests,
            shared_stacks,
            concurrency,
            record,
        } => {
            let figures = stackgate_local::load::run(requests, shared_stacks, concurrency).await?;
            println!("{}", serde_json::to_string_pretty(&figures)?);
            if let Some(path) = record {
                std::fs::write(&path, serde_json::to_string_pretty(&figures)? + "\n")?;
                println!("wrote {}", path.display());
            }
        }
        Command::Diagrams => {
            for (path, content) in stackgate_local::diagram::pages(&stackgate_local::repo_root())? {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, content)?;
                println!("wrote {}", path.display());
            }
        }
        Command::ReliabilityReport {
            records,
            doc,
            check,
        } => {
            let mut report = stackgate_local::reliability::render(&records)?;
            let load = stackgate_local::repo_root().join("docs/load.json");
            if let Ok(text) = std::fs::read_to_string(&load) {
                report.push_str(&stackgate_local::reliability::load_section(
                    &serde_json::from_str(&text)?,
                )?);
            }
            if check {
                let committed = std::fs::read_to_string(&doc).unwrap_or_default();
                if committed != report {
                    return Err(format!(
                        "{} is not what the tests give: run scripts/reliability.sh and commit it",
                        doc.display()
                    )
                    .into());
                }
                println!("{} matches the tests' records", doc.display());
            } else {
                std::fs::write(&doc, report)?;
                println!("wrote {}", doc.display());
            }
        }
        Command::CheckTemplate { template } => {
            let text = std::fs::read_to_string(&template)?;
            let violations = stackgate_local::template_policy::check(&serde_yaml::from_str(&text)?);
            for violation in &violations {
                eprintln!("{}: {violation}", template.display());
            }
            if !violations.is_empty() {
                return Err(
                    format!("{} violation(s) of the template rules", violations.len()).into(),
                );
            }
            println!("{}: IAM, encryption and API rules pass", template.display());
        }
        Command::CheckIam { translated } => {
            let template = serde_json::from_str(&std::fs::read_to_string(&translated)?)?;
            let report = stackgate_local::iam::check_state_machines(&template);
            for problem in &report.problems {
                eprintln!("{}: {problem}", translated.display());
            }
            if !report.problems.is_empty() {
                return Err(format!(
                    "{} IAM gap(s) in the state machines' roles",
                    report.problems.len()
                )
                .into());
            }
            println!(
                "{}: the roles of {} state machines grant what their {} tasks call",
                translated.display(),
                report.state_machines,
                report.tasks
            );
        }
        Command::Demo => {
            let clients = LocalClients::connect(&endpoint()).await;
            demo::run(&clients).await?;
        }
    }
    Ok(())
}
