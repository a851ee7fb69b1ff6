//! The targets the report checks, each from what was measured: a `Target` says what was asked,
//! what was found, and whether it was met.

use super::*;

/// The limit on the whole command on a fresh machine.
pub const FRESH_MACHINE_LIMIT_SECONDS: f64 = 15.0 * 60.0;

/// The whole-command target, judged only on a fresh run: with builds or tools in place the time
/// says nothing about a fresh machine.
pub fn whole_command_target(command_seconds: Option<f64>, fresh: bool) -> Option<Target> {
    let seconds = command_seconds.filter(|_| fresh)?;
    Some(Target {
        target: "the whole benchmark, one command on a fresh machine, under 15 minutes".into(),
        measured: format!(
            "{:.1} min (builds and tool installs included)",
            seconds / 60.0
        ),
        met: seconds < FRESH_MACHINE_LIMIT_SECONDS,
    })
}

/// What the tuned release profile buys: the untuned build of a function against its tuned one.
pub fn profile_effect(functions: &[FunctionResult], untuned: &FunctionResult) -> Option<String> {
    let name = untuned.name.split(' ').next()?;
    let tuned = functions.iter().find(|f| f.name == name)?;
    let part =
        |what: &str, tuned: Option<f64>, untuned: Option<f64>, show: fn(Option<f64>) -> String| {
            ratio(tuned, untuned)
                .map(|r| format!("{what} {} vs {} ({r:.2}x)", show(tuned), show(untuned)))
        };
    let parts: Vec<String> = [
        part(
            "zip (MiB)",
            tuned.zip_bytes.map(|b| b as f64 / 1024.0 / 1024.0),
            untuned.zip_bytes.map(|b| b as f64 / 1024.0 / 1024.0),
            |v| v.map_or("-".into(), |v| format!("{v:.2}")),
        ),
        part("init ms", tuned.init_ms, untuned.init_ms, ms),
        part(
            "peak RSS MiB",
            tuned.peak_rss_mib,
            untuned.peak_rss_mib,
            mib,
        ),
        part(
            "warm ms",
            tuned.warm_invocation_ms,
            untuned.warm_invocation_ms,
            ms,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| {
        format!(
            "*Release profile effect* on {name}, tuned vs untuned (same run): {}.",
            parts.join(", ")
        )
    })
}

/// Checks the targets against the results.
// Long by design: one entry per target, each a measured figure against its limit; a table in code.
pub fn targets(
    functions: &[FunctionResult],
    baselines: &[FunctionResult],
    check_stack: Option<&FunctionResult>,
    workflow: &[PathCost],
) -> Vec<Target> {
    let mut targets = Vec::new();
    let slowest_init = functions
        .iter()
        .filter_map(|f| f.init_ms.map(|i| (i, &f.name)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((init, name)) = slowest_init {
        targets.push(Target {
            target: format!(
                "init under {INIT_LIMIT_MS} ms including SDK client set-up, every function"
            ),
            measured: format!("slowest: {name} {init:.2} ms"),
            met: init < INIT_LIMIT_MS,
        });
    }
    if let Some(ours) = check_stack {
        for baseline in baselines.iter().filter(|b| b.failure.is_none()) {
            let r = ratios(ours, baseline);
            targets.push(Target {
                target: format!("init <= 1/20 of {}", baseline.name),
                measured: format!(
                    "{} ({} vs {} ms)",
                    fraction(r.init),
                    ms(ours.init_ms),
                    ms(baseline.init_ms)
                ),
                met: r.init.is_some_and(|v| v <= INIT_FRACTION_OF_BASELINE),
            });
            targets.push(Target {
                target: format!("peak RSS <= 1/4 of {}", baseline.name),
                measured: format!(
                    "{} ({} vs {} MiB)",
                    fraction(r.rss),
                    mib(ours.peak_rss_mib),
                    mib(baseline.peak_rss_mib)
                ),
                met: r.rss.is_some_and(|v| v <= RSS_FRACTION_OF_BASELINE),
            });
        }
    }
    let largest = functions
        .iter()
        .filter_map(|f| f.zip_bytes.map(|z| (z, &f.name)))
        .max();
    if let Some((zip, name)) = largest {
        targets.push(Target {
            target: "each zip <= 4 MiB".into(),
            measured: format!("largest: {name} {}", size(Some(zip))),
            met: zip <= ZIP_LIMIT_BYTES,
        });
    }
    // Judged at CloudFormation's own latencies: on the local stack CloudFormation answers at once,
    // so the baseline's 10-second polls happen once and its design costs what it would at best.
    let share =
        |p: &&PathCost| p.stackgate.transitions as f64 / p.polling.transitions.max(1) as f64;
    let worst = |local: bool| {
        workflow
            .iter()
            .filter(|p| (p.latency == LATENCIES[0].name) == local)
            .map(|p| (share(&p), p))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    };
    if let Some((aws_share, path)) = worst(false) {
        let reference = worst(true).map_or_else(String::new, |(local_share, local)| {
            format!(
                "; on the local stack (reference) {local_share:.2}: {} ({} vs {})",
                local.path.label(),
                local.stackgate.transitions,
                local.polling.transitions
            )
        });
        targets.push(Target {
            target:
                "state transitions per deploy path <= 1/3 of the polling baseline's (at AWS latencies)"
                    .into(),
            measured: format!(
                "highest share {aws_share:.2}: {} under {} ({} vs {}){reference}",
                path.path.label(),
                path.latency,
                path.stackgate.transitions,
                path.polling.transitions
            ),
            met: aws_share <= TRANSITIONS_FRACTION_OF_POLLING,
        });
    }
    let local = workflow.iter().filter(|p| p.latency == LATENCIES[0].name);
    let growth = local
        .map(|l| {
            workflow
                .iter()
                .filter(|p| p.path == l.path)
                .map(|p| p.stackgate.transitions - l.stackgate.transitions)
                .max()
                .unwrap_or(0)
        })
        .max();
    if let Some(growth) = growth {
        targets.push(Target {
            target: "transitions do not grow with CloudFormation's duration (up to the 10-minute wait budget or task timeout; then one retry per 10 minutes)".into(),
            measured: format!("at most +{growth} transitions from the local stack to a 30-minute stack operation"),
            met: workflow
                .iter()
                .filter(|p| p.latency != LATENCIES[2].name)
                .all(|p| workflow.iter().any(|l| l.path == p.path && l.latency == LATENCIES[0].name && l.stackgate == p.stackgate)),
        });
    }
    targets
}

/// Each function's init as a multiple of the floor's, same run.
pub fn init_over_floor(function: &FunctionResult, floor: Option<&FunctionResult>) -> Option<f64> {
    ratio(function.init_ms, floor?.init_ms)
}

/// Every function's init against the floor's; a function or floor not measured fails the target.
pub fn floor_target(functions: &[FunctionResult], floor: Option<&FunctionResult>) -> Target {
    let target = format!(
        "init <= {INIT_MULTIPLE_OF_FLOOR}x the floor (a no-SDK echo function, same run), every function"
    );
    let Some(floor_ms) = floor.and_then(|f| f.init_ms) else {
        return Target {
            target,
            measured: "the floor was not measured".into(),
            met: false,
        };
    };
    let unmeasured = unmeasured(functions);
    let highest = functions
        .iter()
        .filter_map(|f| init_over_floor(f, floor).map(|m| (m, &f.name)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let (measured, met) = match highest {
        Some((multiple, name)) => (
            format!(
                "highest: {name} {multiple:.2}x (floor {}){unmeasured}",
                ms(Some(floor_ms))
            ),
            multiple <= INIT_MULTIPLE_OF_FLOOR && unmeasured.is_empty(),
        ),
        None => (format!("no function measured{unmeasured}"), false),
    };
    Target {
        target,
        measured,
        met,
    }
}

/// "; not measured: a, b" for the functions that could not be measured, else nothing.
fn unmeasured(functions: &[FunctionResult]) -> String {
    let names: Vec<&str> = functions
        .iter()
        .filter(|f| f.failure.is_some() || f.invocations == 0)
        .map(|f| f.name.as_str())
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("; not measured: {}", names.join(", "))
    }
}

/// No DEBUG line in any function at the default level; a function not measured fails the target.
pub fn quiet_target(functions: &[FunctionResult]) -> Target {
    let unmeasured = unmeasured(functions);
    let most = functions
        .iter()
        .filter(|f| f.invocations > 0)
        .map(|f| (f.verbose_lines as f64 / f.invocations as f64, &f.name))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let (measured, met) = match most {
        Some((lines, name)) => (
            format!("most: {name} {lines:.1} per invocation{unmeasured}"),
            lines == 0.0 && unmeasured.is_empty(),
        ),
        None => (format!("no function measured{unmeasured}"), false),
    };
    Target {
        target: "no DEBUG line per invocation at the default level (info), every function".into(),
        measured,
        met,
    }
}

pub fn cost_target(workflow: &[PathCost]) -> Option<Target> {
    let worst = workflow.iter().max_by(|a, b| {
        a.stackgate_usd_per_1000
            .total_cmp(&b.stackgate_usd_per_1000)
    })?;
    Some(Target {
        target: format!(
            "USD per 1,000 deployments <= {USD_PER_1000_LIMIT:.2} at every modelled latency"
        ),
        measured: format!(
            "highest {:.3}: {} under {} (its {} transitions alone {:.3})",
            worst.stackgate_usd_per_1000,
            worst.path.label(),
            worst.latency,
            worst.stackgate.transitions,
            1000.0 * worst.stackgate.transitions as f64 * crate::workflow::PRICE_PER_TRANSITION,
        ),
        met: worst.stackgate_usd_per_1000 <= USD_PER_1000_LIMIT,
    })
}

/// Lambda seconds per deployment beyond the change set's polled creation (CloudFormation sends no
/// change set events), from the local stack to the slowest modelled stack operation.
pub fn lambda_time_target(workflow: &[PathCost]) -> Option<Target> {
    use crate::workflow::LATENCIES;
    let beyond_change_set = |p: &PathCost| {
        let latency = LATENCIES.iter().find(|l| l.name == p.latency)?;
        Some(p.stackgate_lambda_seconds - latency.change_set_seconds)
    };
    let growth = workflow
        .iter()
        .filter(|p| p.latency == LATENCIES[2].name)
        .filter_map(|slow| {
            let local = workflow
                .iter()
                .find(|l| l.path == slow.path && l.latency == LATENCIES[0].name)?;
            Some(beyond_change_set(slow)? - beyond_change_set(local)?)
        })
        .max_by(f64::total_cmp)?;
    Some(Target {
        target: "Lambda time per deployment does not grow with the stack operation's duration (the change set's creation, which has no event, is polled)".into(),
        measured: format!("+{growth:.3} s from the local stack to a 30-minute stack operation"),
        met: growth < 0.5,
    })
}

pub fn overhead_target(overhead: &[Overhead]) -> Option<Target> {
    let worst = overhead
        .iter()
        .max_by(|a, b| a.stackgate_p50_ms.total_cmp(&b.stackgate_p50_ms))?;
    Some(Target {
        target: format!(
            "orchestration overhead (request to outcome on the local stack) p50 <= {} s, every path",
            OVERHEAD_P50_LIMIT_MS / 1000.0
        ),
        measured: format!(
            "slowest p50: {} {} ms (p99 {} ms, {} runs)",
            worst.path.label(),
            worst.stackgate_p50_ms.round(),
            worst.stackgate_p99_ms.round(),
            worst.runs
        ),
        met: worst.stackgate_p50_ms <= OVERHEAD_P50_LIMIT_MS,
    })
}

/// The largest release stays well within Step Functions' limits on one execution: a tenth of its
/// history's events, a quarter of a state's payload.
pub fn release_target(releases: &[ReleaseRun]) -> Option<Target> {
    let largest = releases.iter().max_by_key(|r| r.stacks)?;
    Some(Target {
        target: "the largest release uses at most a tenth of Step Functions' 25,000 history events and a quarter of its 256 KiB state payload".into(),
        measured: format!(
            "{} stacks in {} places: {} events, largest state {} bytes",
            largest.stacks, largest.places, largest.history_events, largest.largest_payload_bytes
        ),
        met: largest.history_events * 10 <= MAX_HISTORY_EVENTS
            && largest.largest_payload_bytes * 4 <= MAX_PAYLOAD_BYTES,
    })
}
