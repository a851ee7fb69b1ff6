//! The order of a release's stacks: no stack twice in one place, `dependsOn` resolved to stacks,
//! waves in dependency order, and a cycle named by its stacks.

use std::collections::BTreeMap;

use super::ReleaseStack;
use crate::TaskError;

/// Where a stack is: its account and Region (none: stackgate's own) and its full name.
fn place(stack: &ReleaseStack) -> (Option<&str>, Option<&str>, &str) {
    (
        stack.account.as_deref(),
        stack.region.as_deref(),
        stack.deployment.stack_name.as_str(),
    )
}

/// No stack twice: the same name in the same account and Region would be deployed twice.
pub(super) fn refuse_duplicates(stacks: &[ReleaseStack]) -> Result<(), TaskError> {
    let mut seen = BTreeMap::new();
    for (i, stack) in stacks.iter().enumerate() {
        if let Some(first) = seen.insert(place(stack), i) {
            return Err(TaskError::invalid(
                format!("stacks[{i}].stackName"),
                format!("names the same stack as stacks[{first}] (same account and Region)"),
            ));
        }
    }
    Ok(())
}

/// `dependsOn` names stacks by their `stackName`: a name stands for every stack of that name in
/// the release (a primary and a DR Region), never for the stack itself.
pub(super) fn resolve_dependencies(
    stacks: &[ReleaseStack],
    i: usize,
    names: &[String],
) -> Result<Vec<usize>, TaskError> {
    let short = |s: &ReleaseStack| {
        let full = s.deployment.stack_name.as_str();
        full[s.deployment.environment_name.as_str().len() + 1..].to_string()
    };
    let mut found = Vec::new();
    for (k, name) in names.iter().enumerate() {
        let field = || format!("stacks[{i}].dependsOn[{k}]");
        if *name == short(&stacks[i]) {
            return Err(TaskError::invalid(
                field(),
                "names the stack itself (or a stack of its own name in another account or Region, which it would then wait for as for itself)",
            ));
        }
        let matching: Vec<usize> = (0..stacks.len())
            .filter(|j| short(&stacks[*j]) == *name)
            .collect();
        if matching.is_empty() {
            return Err(TaskError::invalid(
                field(),
                "names no stack of this release",
            ));
        }
        found.extend(matching);
    }
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// The waves: first the stacks that depend on nothing, then each stack as soon as everything it
/// depends on is in an earlier wave. A cycle is refused, naming its stacks by index.
pub(super) fn waves(stacks: &[ReleaseStack]) -> Result<Vec<Vec<usize>>, TaskError> {
    let mut wave_of: Vec<Option<usize>> = vec![None; stacks.len()];
    let mut waves: Vec<Vec<usize>> = Vec::new();
    while wave_of.iter().any(Option::is_none) {
        let next: Vec<usize> = (0..stacks.len())
            .filter(|i| wave_of[*i].is_none())
            .filter(|i| stacks[*i].depends_on.iter().all(|d| wave_of[*d].is_some()))
            .collect();
        if next.is_empty() {
            let cycle = find_cycle(stacks, &wave_of);
            let path: Vec<String> = cycle.iter().map(|i| format!("stacks[{i}]")).collect();
            return Err(TaskError::invalid(
                format!("stacks[{}].dependsOn", cycle[0]),
                format!("is part of a dependency cycle: {}", path.join(" -> ")),
            ));
        }
        for i in &next {
            wave_of[*i] = Some(waves.len());
        }
        waves.push(next);
    }
    Ok(waves)
}

/// A cycle among the stacks not placed in a wave, as indexes from a stack back to itself.
fn find_cycle(stacks: &[ReleaseStack], placed: &[Option<usize>]) -> Vec<usize> {
    let start = (0..stacks.len())
        .find(|i| placed[*i].is_none())
        .unwrap_or_default();
    // Every unplaced stack waits on an unplaced one, so following those edges must repeat.
    let mut path = vec![start];
    loop {
        let last = *path.last().unwrap_or(&start);
        let Some(next) = stacks[last]
            .depends_on
            .iter()
            .copied()
            .find(|d| placed[*d].is_none())
        else {
            return path;
        };
        if let Some(at) = path.iter().position(|p| *p == next) {
            let mut cycle = path[at..].to_vec();
            cycle.push(next);
            return cycle;
        }
        path.push(next);
    }
}
