//! The benchmark's results: one JSON document and the Markdown page generated from it.

use serde::Serialize;

use crate::release::{ReleaseRun, MAX_HISTORY_EVENTS, MAX_PAYLOAD_BYTES};
use crate::runtime_api::ColdStart;
use crate::stats::{median, millis, ratio};
use crate::workflow::{Overhead, PathCost, LATENCIES};

mod targets;
pub use targets::*;

/// The targets, as the report checks them.
pub const INIT_FRACTION_OF_BASELINE: f64 = 1.0 / 20.0;
pub const INIT_LIMIT_MS: f64 = 10.0;
pub const RSS_FRACTION_OF_BASELINE: f64 = 1.0 / 4.0;
pub const ZIP_LIMIT_BYTES: u64 = 4 * 1024 * 1024;
pub const TRANSITIONS_FRACTION_OF_POLLING: f64 = 1.0 / 3.0;
pub const INIT_MULTIPLE_OF_FLOOR: f64 = 1.5;
pub const USD_PER_1000_LIMIT: f64 = 0.15;
pub const OVERHEAD_P50_LIMIT_MS: f64 = 1000.0;

/// Medians over the cold starts of one function (or baseline).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionResult {
    pub name: String,
    pub runtime: String,
    pub cold_starts: usize,
    pub init_ms: Option<f64>,
    pub first_invocation_ms: Option<f64>,
    pub warm_invocation_ms: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub zip_bytes: Option<u64>,
    /// Invocations answered on the Runtime API's error endpoint (the sample event's outcome on a
    /// fresh local stack, e.g. a resource that does not exist), out of `invocations`.
    pub errors: usize,
    pub invocations: usize,
    /// Lines logged at DEBUG or TRACE over all `invocations`, at the configured (default) level.
    pub verbose_lines: usize,
    /// Why the function could not be measured, if it could not.
    pub failure: Option<String>,
}

impl FunctionResult {
    pub fn from_runs(
        name: &str,
        runtime: &str,
        runs: &[ColdStart],
        zip_bytes: Option<u64>,
    ) -> Self {
        let init: Vec<f64> = runs.iter().map(|r| millis(r.init)).collect();
        let first: Vec<f64> = runs.iter().map(|r| millis(r.first().duration)).collect();
        let warm: Vec<f64> = runs
            .iter()
            .flat_map(|r| r.warm().iter().map(|i| millis(i.duration)))
            .collect();
        let rss: Vec<f64> = runs
            .iter()
            .map(|r| r.peak_rss_kib as f64 / 1024.0)
            .collect();
        FunctionResult {
            name: name.to_string(),
            runtime: runtime.to_string(),
            cold_starts: runs.len(),
            init_ms: median(&init),
            first_invocation_ms: median(&first),
            warm_invocation_ms: median(&warm),
            peak_rss_mib: median(&rss),
            zip_bytes,
            errors: runs
                .iter()
                .flat_map(|r| &r.invocations)
                .filter(|i| i.error)
                .count(),
            invocations: runs.iter().map(|r| r.invocations.len()).sum(),
            verbose_lines: runs.iter().map(ColdStart::verbose_lines).sum(),
            failure: None,
        }
    }

    pub fn failed(name: &str, runtime: &str, why: String) -> Self {
        FunctionResult {
            name: name.to_string(),
            runtime: runtime.to_string(),
            cold_starts: 0,
            init_ms: None,
            first_invocation_ms: None,
            warm_invocation_ms: None,
            peak_rss_mib: None,
            zip_bytes: None,
            errors: 0,
            invocations: 0,
            verbose_lines: 0,
            failure: Some(why),
        }
    }
}

/// stackgate's check-stack against one baseline.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ratios {
    pub baseline: String,
    pub init: Option<f64>,
    pub warm: Option<f64>,
    pub rss: Option<f64>,
}

pub fn ratios(ours: &FunctionResult, baseline: &FunctionResult) -> Ratios {
    Ratios {
        baseline: baseline.name.clone(),
        init: ratio(ours.init_ms, baseline.init_ms),
        warm: ratio(ours.warm_invocation_ms, baseline.warm_invocation_ms),
        rss: ratio(ours.peak_rss_mib, baseline.peak_rss_mib),
    }
}

/// One target and whether this run met it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub generated_at: String,
    pub machine: Machine,
    pub cold_starts_per_function: usize,
    pub warm_invocations_per_cold_start: usize,
    pub functions: Vec<FunctionResult>,
    pub baselines: Vec<FunctionResult>,
    pub ratios: Vec<Ratios>,
    /// `functions::UNTUNED_FUNCTION` built with the untuned release profile (when measured).
    pub untuned: Option<FunctionResult>,
    /// `functions::FLOOR_FUNCTION`: every function's init is judged as a multiple of its.
    pub floor: Option<FunctionResult>,
    pub workflow: Vec<PathCost>,
    pub overhead: Vec<Overhead>,
    /// Releases of `release::SIZES` stacks.
    pub releases: Vec<ReleaseRun>,
    pub targets: Vec<Target>,
    /// The measurements alone.
    pub seconds: f64,
    /// The whole command, builds and tool installs included (when it said when it started).
    pub command_seconds: Option<f64>,
    /// Whether the command started with nothing built and no tools installed.
    pub fresh: bool,
}

pub(crate) fn fraction(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.3}"))
}

pub(crate) fn ms(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| {
        if v < 10.0 {
            format!("{v:.2}")
        } else {
            format!("{v:.1}")
        }
    })
}

pub(crate) fn mib(value: Option<f64>) -> String {
    value.map_or("-".into(), |v| format!("{v:.1}"))
}

pub(crate) fn size(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| {
        format!("{:.2} MiB", b as f64 / 1024.0 / 1024.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime_api::Invocation;
    use crate::workflow::{Counts, DeployPath};
    use std::time::Duration;

    fn run(init_ms: u64, rss_kib: u64) -> ColdStart {
        ColdStart {
            init: Duration::from_millis(init_ms),
            invocations: vec![
                Invocation {
                    duration: Duration::from_millis(20),
                    error: false,
                },
                Invocation {
                    duration: Duration::from_millis(4),
                    error: true,
                },
            ],
            peak_rss_kib: rss_kib,
            answers: Vec::new(),
            output: String::new(),
        }
    }

    fn path(latency: &'static str, ours: u64, polling: u64) -> PathCost {
        PathCost {
            path: DeployPath::Create,
            latency,
            stackgate: Counts {
                transitions: ours,
                lambda_invocations: 4,
            },
            polling: Counts {
                transitions: polling,
                lambda_invocations: 4,
            },
            stackgate_lambda_seconds: 0.0,
            polling_lambda_seconds: 0.0,
            stackgate_usd_per_1000: 0.0,
            polling_usd_per_1000: 0.0,
        }
    }

    #[test]
    fn results_are_medians_and_errors_are_counted() {
        let result = FunctionResult::from_runs(
            "f",
            "rust",
            &[run(2, 10240), run(4, 20480), run(3, 30720)],
            Some(1),
        );
        assert_eq!(result.init_ms, Some(3.0));
        assert_eq!(result.first_invocation_ms, Some(20.0));
        assert_eq!(result.warm_invocation_ms, Some(4.0));
        assert_eq!(result.peak_rss_mib, Some(20.0));
        assert_eq!((result.errors, result.invocations), (3, 6));
    }

    #[test]
    fn targets_are_judged_not_assumed() {
        let ours = FunctionResult::from_runs(
            "check-stack",
            "rust",
            &[run(3, 8192)],
            Some(5 * 1024 * 1024),
        );
        let python = FunctionResult::from_runs("python", "py", &[run(300, 65536)], None);
        let slow_node = FunctionResult::from_runs("node", "js", &[run(40, 16384)], None);
        // Above 1/3 on the local stack only: a reference, not the target.
        let workflow = vec![
            path(LATENCIES[0].name, 9, 12),
            path(LATENCIES[1].name, 9, 60),
            path(LATENCIES[2].name, 11, 400),
        ];
        let targets = targets(
            std::slice::from_ref(&ours),
            &[python, slow_node],
            Some(&ours),
            &workflow,
        );
        let met = |prefix: &str| {
            targets
                .iter()
                .find(|t| t.target.starts_with(prefix))
                .unwrap()
                .met
        };
        assert!(met("init under"));
        assert!(met("init <= 1/20 of python"));
        assert!(
            !met("init <= 1/20 of node"),
            "3 ms is more than 1/20 of 40 ms"
        );
        assert!(met("peak RSS <= 1/4 of python"));
        assert!(!met("peak RSS <= 1/4 of node"));
        assert!(!met("each zip"), "5 MiB is over the limit");
        assert!(met("state transitions"));
        assert!(met("transitions do not grow"));

        let costly = vec![
            path(LATENCIES[0].name, 9, 12),
            path(LATENCIES[1].name, 9, 20),
        ];
        let judged = super::targets(std::slice::from_ref(&ours), &[], Some(&ours), &costly);
        let transitions = judged
            .iter()
            .find(|t| t.target.starts_with("state transitions"))
            .unwrap();
        assert!(!transitions.met, "9 of 20 at AWS latency is more than 1/3");
        assert!(transitions
            .measured
            .contains("local stack (reference) 0.75"));
    }

    #[test]
    fn the_floor_logging_cost_and_overhead_targets_are_judged() {
        let floor = FunctionResult::from_runs("echo-floor", "rust", &[run(2, 4096)], None);
        let at = |init| FunctionResult::from_runs("f", "rust", &[run(init, 4096)], None);
        assert!(floor_target(&[at(3)], Some(&floor)).met);
        let over = floor_target(&[at(3), at(4)], Some(&floor));
        assert!(!over.met);
        assert!(over.measured.contains("2.00x"), "{}", over.measured);
        assert!(!floor_target(&[at(3)], None).met);
        let failed = FunctionResult::failed("g", "rust", "not built".into());
        let missing = floor_target(&[at(3), failed.clone()], Some(&floor));
        assert!(!missing.met);
        assert!(
            missing.measured.contains("not measured: g"),
            "{}",
            missing.measured
        );
        assert!(!quiet_target(&[at(3), failed]).met);

        let mut noisy = at(3);
        assert!(quiet_target(std::slice::from_ref(&noisy)).met);
        noisy.verbose_lines = 256;
        let quiet = quiet_target(&[at(3), noisy]);
        assert!(!quiet.met);
        assert!(
            quiet.measured.contains("128.0 per invocation"),
            "{}",
            quiet.measured
        );

        let mut cheap = path(LATENCIES[0].name, 5, 7);
        cheap.stackgate_usd_per_1000 = 0.125;
        let mut dear = path(LATENCIES[2].name, 7, 544);
        dear.stackgate_usd_per_1000 = 3.276;
        assert!(cost_target(std::slice::from_ref(&cheap)).unwrap().met);
        assert!(
            lambda_time_target(std::slice::from_ref(&cheap)).is_none(),
            "no slow latency modelled"
        );
        let cost = cost_target(&[cheap, dear]).unwrap();
        assert!(!cost.met);
        assert!(cost.measured.contains("3.276"), "{}", cost.measured);

        let mut local = path(LATENCIES[0].name, 5, 7);
        local.stackgate_lambda_seconds = 0.02;
        let mut slow = path(LATENCIES[2].name, 7, 544);
        // The change set's minute, polled; the stack's 30 minutes waited on by token.
        slow.stackgate_lambda_seconds = 60.04;
        assert!(
            lambda_time_target(&[local.clone(), slow.clone()])
                .unwrap()
                .met
        );
        // The stack's 30 minutes polled too.
        slow.stackgate_lambda_seconds = 1860.04;
        let polled = lambda_time_target(&[local, slow]).unwrap();
        assert!(!polled.met, "{}", polled.measured);

        let overhead = |p50| Overhead {
            path: DeployPath::SafeUpdate,
            runs: 20,
            stackgate_p50_ms: p50,
            stackgate_p99_ms: p50 * 2.0,
            polling_runs: 20,
            polling_p50_ms: 20000.0,
            polling_p99_ms: 20000.0,
        };
        assert!(overhead_target(&[overhead(900.0)]).unwrap().met);
        assert!(
            !overhead_target(&[overhead(900.0), overhead(1200.0)])
                .unwrap()
                .met
        );
    }

    #[test]
    fn the_whole_command_is_judged_only_on_a_fresh_run() {
        assert!(whole_command_target(Some(1000.0), false).is_none());
        assert!(whole_command_target(None, true).is_none());
        let under = whole_command_target(Some(14.0 * 60.0), true).unwrap();
        assert!(under.met);
        assert_eq!(
            under.measured,
            "14.0 min (builds and tool installs included)"
        );
        assert!(!whole_command_target(Some(15.0 * 60.0), true).unwrap().met);
    }

    #[test]
    fn the_page_shows_every_section_and_failures() {
        let ours = FunctionResult::from_runs("check-stack", "rust", &[run(3, 8192)], Some(1024));
        let report = Report {
            generated_at: "2026-11-22T00:00:00Z".into(),
            machine: Machine {
                cpu: "cpu".into(),
                cores: 2,
                memory_gib: 24.0,
                kernel: "6".into(),
                rustc: "rustc 1".into(),
            },
            cold_starts_per_function: 1,
            warm_invocations_per_cold_start: 1,
            functions: vec![ours.clone()],
            baselines: vec![FunctionResult::failed(
                "node",
                "Node.js",
                "node is not on PATH".into(),
            )],
            ratios: vec![],
            untuned: Some(FunctionResult {
                name: "check-stack (untuned release)".into(),
                ..FunctionResult::from_runs("check-stack", "rust", &[run(6, 16384)], Some(4096))
            }),
            floor: Some(FunctionResult::from_runs(
                "echo-floor",
                "rust",
                &[run(2, 4096)],
                None,
            )),
            workflow: vec![path(LATENCIES[0].name, 9, 30)],
            releases: vec![],
            overhead: vec![Overhead {
                path: DeployPath::Create,
                runs: 20,
                stackgate_p50_ms: 812.4,
                stackgate_p99_ms: 1500.0,
                polling_runs: 20,
                polling_p50_ms: 20400.0,
                polling_p99_ms: 20900.0,
            }],
            targets: targets(std::slice::from_ref(&ours), &[], Some(&ours), &[]),
            seconds: 1.0,
            command_seconds: Some(600.0),
            fresh: true,
        };
        let page = crate::page::markdown(&report, "scripts/bench.sh");
        for section in [
            "## Targets",
            "## Functions",
            "## Baselines",
            "## Workflow cost",
            "not measured: node is not on PATH",
            "| create | local stack | 9 / 30 |",
            "| check-stack (untuned release) |",
            "the whole command took 10.0 min on a fresh machine",
            "*Release profile effect* on check-stack, tuned vs untuned (same run): zip (MiB) ",
            "init ms 3.00 vs 6.00 (0.50x), peak RSS MiB 8.0 vs 16.0 (0.50x)",
            "| check-stack | 3.00 | 1.50x |",
            "| echo-floor | 2.00 | 1.00x |",
            "## Orchestration overhead",
            "| create | 20 | 812 | 1500 | 20400 | 20900 |",
        ] {
            assert!(page.contains(section), "{section}\n{page}");
        }
    }
}
