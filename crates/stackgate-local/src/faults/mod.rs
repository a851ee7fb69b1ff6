//! AWS faults on request (`STACKGATE_FAULTS`): the front door answers a share of the calls that the
//! functions and the state machines make with a throttle, a server error, or no answer at all (the
//! call reached AWS, the answer was lost), each in the caller's protocol's real error shape, so that
//! retries are proven across whole workflows, not per call site.
//!
//! The spec is a comma-separated list of `[service[.Operation]:]kind=rate` and `seed=N`:
//! `throttle=0.10,5xx=0.05,timeout=0.02,cloudformation.ExecuteChangeSet:timeout=0.5,seed=7`.
//! Kinds: `throttle`, `5xx`, `timeout` (the answer is lost). The most specific rule of each kind
//! applies. Only the callers named in [`FAULTED_CALLERS`] are faulted: the operator's and the tests'
//! own calls (access key `test`) never are, as an outage of the harness would prove nothing.

//!
//! This module holds the spec and its seeded decisions; `wire` what a call is and how AWS answers
//! it when it fails.

mod wire;

pub use wire::{classify, error_answer, runs_as_role, signer, Call, Protocol, FAULTED_CALLERS};

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Throttle,
    #[serde(rename = "5xx")]
    ServerError,
    /// The call is carried out and its answer lost (the connection closes).
    Timeout,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Throttle, Kind::ServerError, Kind::Timeout];

    fn parse(name: &str) -> Option<Kind> {
        match name {
            "throttle" => Some(Kind::Throttle),
            "5xx" => Some(Kind::ServerError),
            "timeout" => Some(Kind::Timeout),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Throttle => "throttle",
            Kind::ServerError => "5xx",
            Kind::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    service: Option<String>,
    operation: Option<String>,
    kind: Kind,
    rate: f64,
}

impl Rule {
    /// How specific the rule is for a call, if it applies: 0 any call, 1 a service, 2 an operation.
    fn specificity(&self, call: &Call) -> Option<u8> {
        match (&self.service, &self.operation) {
            (None, _) => Some(0),
            (Some(s), None) if *s == call.service => Some(1),
            (Some(s), Some(o)) if *s == call.service && *o == call.operation => Some(2),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    rules: Vec<Rule>,
    seed: u64,
}

impl Spec {
    /// Parses `STACKGATE_FAULTS`; an error names the item at fault.
    pub fn parse(text: &str) -> Result<Spec, String> {
        let mut spec = Spec {
            rules: Vec::new(),
            seed: 1,
        };
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (scope, setting) = match item.rsplit_once(':') {
                Some((scope, setting)) => (Some(scope), setting),
                None => (None, item),
            };
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| format!("STACKGATE_FAULTS item {item:?}: expected kind=rate"))?;
            if key == "seed" && scope.is_none() {
                spec.seed = value
                    .parse()
                    .map_err(|_| format!("STACKGATE_FAULTS item {item:?}: the seed is a number"))?;
                continue;
            }
            let kind = Kind::parse(key).ok_or_else(|| {
                format!("STACKGATE_FAULTS item {item:?}: the kind is throttle, 5xx or timeout")
            })?;
            let rate: f64 = value
                .parse()
                .ok()
                .filter(|r: &f64| (0.0..=1.0).contains(r))
                .ok_or_else(|| {
                    format!("STACKGATE_FAULTS item {item:?}: the rate is a number from 0 to 1")
                })?;
            let (service, operation) = match scope {
                None => (None, None),
                Some(scope) => match scope.split_once('.') {
                    Some((s, o)) => (Some(s.to_ascii_lowercase()), Some(o.to_string())),
                    None => (Some(scope.to_ascii_lowercase()), None),
                },
            };
            spec.rules.push(Rule {
                service,
                operation,
                kind,
                rate,
            });
        }
        // Every scope a rule names, and any call: the rates that apply there add up to at most 1.
        let mut scopes = vec![None];
        scopes.extend(spec.rules.iter().map(|r| {
            r.service.as_ref().map(|service| Call {
                answer_may_be_lost: true,
                service: service.clone(),
                operation: r.operation.clone().unwrap_or_default(),
                protocol: Protocol::Query,
            })
        }));
        for scope in &scopes {
            let total: f64 = Kind::ALL
                .iter()
                .map(|k| spec.rate_of(*k, scope.as_ref()))
                .sum();
            if total > 1.0 {
                return Err(
                    "STACKGATE_FAULTS: the rates that apply to one call add up to more than 1"
                        .into(),
                );
            }
        }
        Ok(spec)
    }

    /// The rate of a kind for a call (`None`: the rule for any call).
    fn rate_of(&self, kind: Kind, call: Option<&Call>) -> f64 {
        self.rules
            .iter()
            .filter(|r| r.kind == kind)
            .filter_map(|r| match call {
                Some(call) => r.specificity(call).map(|s| (s, r.rate)),
                None => r.service.is_none().then_some((0, r.rate)),
            })
            .max_by_key(|(s, _)| *s)
            .map_or(0.0, |(_, rate)| rate)
    }

    /// The fault for a call, given a uniform draw in [0, 1).
    pub fn fault_for(&self, call: &Call, draw: f64) -> Option<Kind> {
        let mut upper = 0.0;
        for kind in Kind::ALL {
            upper += self.rate_of(kind, Some(call));
            if draw < upper {
                return Some(kind);
            }
        }
        None
    }
}

/// What was injected so far, for `GET /_local/faults`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// Calls that could be faulted (their caller and protocol qualify).
    pub eligible: u64,
    pub injected: BTreeMap<&'static str, u64>,
    /// `service.Operation` -> kind -> count.
    pub by_operation: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

/// The spec, its seeded random sequence, and the tally.
#[derive(Debug)]
pub struct Injector {
    spec: Spec,
    state: Mutex<(u64, Tally)>,
}

impl Injector {
    pub fn new(spec: Spec) -> Injector {
        let seed = spec.seed;
        Injector {
            spec,
            state: Mutex::new((seed, Tally::default())),
        }
    }

    /// Decides the fault for a call and counts it.
    pub fn decide(&self, call: &Call) -> Option<Kind> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let draw = next_draw(&mut state.0);
        state.1.eligible += 1;
        let fault = self
            .spec
            .fault_for(call, draw)
            .filter(|kind| *kind != Kind::Timeout || call.answer_may_be_lost)?;
        *state.1.injected.entry(fault.name()).or_default() += 1;
        *state
            .1
            .by_operation
            .entry(format!("{}.{}", call.service, call.operation))
            .or_default()
            .entry(fault.name())
            .or_default() += 1;
        Some(fault)
    }

    pub fn tally(&self) -> Tally {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .1
            .clone()
    }
}

/// splitmix64: a seeded sequence, so that a run can be repeated.
fn next_draw(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, operation: &str, protocol: Protocol) -> Call {
        Call {
            answer_may_be_lost: true,
            service: service.into(),
            operation: operation.into(),
            protocol,
        }
    }

    #[test]
    fn the_spec_takes_kinds_rates_scopes_and_a_seed_and_names_what_it_refuses() {
        let spec = Spec::parse(
            "throttle=0.1, 5xx=0.05,timeout=0.02,cloudformation.ExecuteChangeSet:timeout=0.5,seed=7",
        )
        .unwrap();
        assert_eq!(spec.seed, 7);
        let execute = call("cloudformation", "ExecuteChangeSet", Protocol::Query);
        let other = call("cloudformation", "DescribeStacks", Protocol::Query);
        assert_eq!(spec.rate_of(Kind::Timeout, Some(&execute)), 0.5);
        assert_eq!(spec.rate_of(Kind::Timeout, Some(&other)), 0.02);
        assert_eq!(spec.fault_for(&other, 0.05), Some(Kind::Throttle));
        assert_eq!(spec.fault_for(&other, 0.12), Some(Kind::ServerError));
        assert_eq!(spec.fault_for(&other, 0.16), Some(Kind::Timeout));
        assert_eq!(spec.fault_for(&other, 0.2), None);
        assert_eq!(Spec::parse("").unwrap().fault_for(&other, 0.0), None);
        for bad in [
            "throttle",
            "slow=0.1",
            "throttle=2",
            "throttle=x",
            "seed=x",
            "throttle=0.6,5xx=0.6",
            "throttle=0.5,states.X:timeout=0.9",
        ] {
            let error = Spec::parse(bad).unwrap_err();
            assert!(error.starts_with("STACKGATE_FAULTS"), "{bad}: {error}");
        }
    }

    #[test]
    fn a_seed_repeats_its_faults_and_the_tally_counts_them() {
        let spec = Spec::parse("throttle=0.2,5xx=0.1,timeout=0.1,seed=42").unwrap();
        let run = || {
            let injector = Injector::new(spec.clone());
            let c = call("cloudformation", "DescribeStacks", Protocol::Query);
            let faults: Vec<Option<Kind>> = (0..1000).map(|_| injector.decide(&c)).collect();
            (faults, injector.tally())
        };
        let (first, tally) = run();
        assert_eq!(first, run().0);
        assert_eq!(tally.eligible, 1000);
        let throttles = tally.injected["throttle"];
        assert!((150..250).contains(&throttles), "{throttles}");
        assert_eq!(
            tally.by_operation["cloudformation.DescribeStacks"]
                .values()
                .sum::<u64>(),
            tally.injected.values().sum::<u64>()
        );
    }
}
