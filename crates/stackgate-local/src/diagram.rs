//! Mermaid flowcharts of the state machines, generated from `statemachines/*.asl.json` into `docs/`:
//! states, transitions, Choice rules as edge labels, Catch edges dashed, Map and Parallel as subgraphs.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A Mermaid-safe node id for a state in a scope.
fn node_id(scope: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if scope.is_empty() {
        format!("s_{clean}")
    } else {
        format!("{scope}__{clean}")
    }
}

/// Text for inside a quoted Mermaid label.
fn label(text: &str) -> String {
    text.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

/// A readable Choice rule: `$.x == "y"`, `$.n > 3`, `not (...)`, `a and b`.
pub fn describe_rule(rule: &Value) -> String {
    if let Some(all) = rule.get("And").and_then(Value::as_array) {
        return all
            .iter()
            .map(describe_rule)
            .collect::<Vec<_>>()
            .join(" and ");
    }
    if let Some(any) = rule.get("Or").and_then(Value::as_array) {
        return any
            .iter()
            .map(describe_rule)
            .collect::<Vec<_>>()
            .join(" or ");
    }
    if let Some(not) = rule.get("Not") {
        return format!("not ({})", describe_rule(not));
    }
    let variable = rule.get("Variable").and_then(Value::as_str).unwrap_or("?");
    let Some(object) = rule.as_object() else {
        return variable.to_string();
    };
    for (key, value) in object {
        if key == "Variable" || key == "Next" {
            continue;
        }
        let operator = match key.trim_end_matches("Path") {
            k if k.ends_with("GreaterThanEquals") => ">=",
            k if k.ends_with("LessThanEquals") => "<=",
            k if k.ends_with("GreaterThan") => ">",
            k if k.ends_with("LessThan") => "<",
            k if k.ends_with("Equals") => "==",
            "IsPresent" => return format!("{variable} is present: {value}"),
            "IsNull" => return format!("{variable} is null: {value}"),
            other => return format!("{variable} {other} {value}"),
        };
        let value = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return format!("{variable} {operator} {value}");
    }
    variable.to_string()
}

fn shape(id: &str, name: &str, state: &Value) -> String {
    let kind = state.get("Type").and_then(Value::as_str).unwrap_or("?");
    let detail = match kind {
        "Task" => {
            let resource = state
                .get("Resource")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let short = resource.strip_prefix("arn:aws:states:::").unwrap_or(
                if resource.starts_with("${") {
                    "activity/lambda"
                } else {
                    resource
                },
            );
            format!("Task: {short}")
        }
        other => other.to_string(),
    };
    let text = format!("{}<br/><small>{}</small>", label(name), label(&detail));
    match kind {
        "Choice" => format!("{id}{{\"{text}\"}}"),
        "Fail" => format!("{id}[[\"{text}\"]]"),
        "Succeed" => format!("{id}([\"{text}\"])"),
        "Wait" => format!("{id}[/\"{text}\"/]"),
        _ => format!("{id}[\"{text}\"]"),
    }
}

/// Writes one scope (the machine, a Map's processor or a Parallel branch).
// Long by design: one arm per ASL state type, each drawn its way.
fn scope(out: &mut String, machine: &Value, prefix: &str, indent: &str, start_from: Option<&str>) {
    let Some(states) = machine.get("States").and_then(Value::as_object) else {
        return;
    };
    let start = machine
        .get("StartAt")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let Some(from) = start_from {
        let _ = writeln!(out, "{indent}{from} --> {}", node_id(prefix, start));
    }
    for (name, state) in states {
        let id = node_id(prefix, name);
        let kind = state
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind == "Map" || kind == "Parallel" {
            let _ = writeln!(
                out,
                "{indent}subgraph {id} [\"{}\"]",
                label(&format!("{name} ({kind})"))
            );
            let inner_indent = format!("{indent}  ");
            let processors: Vec<&Value> = if kind == "Map" {
                state
                    .get("ItemProcessor")
                    .or_else(|| state.get("Iterator"))
                    .into_iter()
                    .collect()
            } else {
                state
                    .get("Branches")
                    .and_then(Value::as_array)
                    .map(|b| b.iter().collect())
                    .unwrap_or_default()
            };
            for (index, processor) in processors.iter().enumerate() {
                let inner_prefix = format!("{id}_{index}");
                let entry = format!("{inner_prefix}_start");
                let _ = writeln!(out, "{inner_indent}{entry}((\" \"))");
                scope(out, processor, &inner_prefix, &inner_indent, Some(&entry));
            }
            let _ = writeln!(out, "{indent}end");
        } else {
            let _ = writeln!(out, "{indent}{}", shape(&id, name, state));
        }
        if let Some(next) = state.get("Next").and_then(Value::as_str) {
            let _ = writeln!(out, "{indent}{id} --> {}", node_id(prefix, next));
        }
        for choice in state
            .get("Choices")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(next) = choice.get("Next").and_then(Value::as_str) {
                let _ = writeln!(
                    out,
                    "{indent}{id} -- \"{}\" --> {}",
                    label(&describe_rule(choice)),
                    node_id(prefix, next)
                );
            }
        }
        if let Some(default) = state.get("Default").and_then(Value::as_str) {
            let _ = writeln!(
                out,
                "{indent}{id} -- \"otherwise\" --> {}",
                node_id(prefix, default)
            );
        }
        for catcher in state
            .get("Catch")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(next) = catcher.get("Next").and_then(Value::as_str) {
                let errors: Vec<&str> = catcher
                    .get("ErrorEquals")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let _ = writeln!(
                    out,
                    "{indent}{id} -. \"catch {}\" .-> {}",
                    label(&errors.join(", ")),
                    node_id(prefix, next)
                );
            }
        }
        let ends = state.get("End").and_then(Value::as_bool).unwrap_or(false) || kind == "Succeed";
        if ends && prefix.is_empty() {
            let _ = writeln!(out, "{indent}{id} --> finish((End))");
        }
    }
}

/// The Mermaid flowchart of a state machine definition.
pub fn mermaid(machine: &Value) -> String {
    let mut out = String::from("flowchart TD\n");
    out.push_str("  start((Start))\n");
    scope(&mut out, machine, "", "  ", Some("start"));
    out
}

/// The Markdown page for one state machine file.
pub fn page(file_name: &str, machine: &Value) -> String {
    let comment = machine
        .get("Comment")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!(
        "# {file_name}\n\nGenerated from `statemachines/{file_name}` by `cargo run -p stackgate-local -- diagrams`; do not edit.\n\n{comment}\n\n```mermaid\n{}```\n",
        mermaid(machine)
    )
}

/// `(path of the page, its content)` for every state machine of the repository.
pub fn pages(repo: &Path) -> Result<Vec<(PathBuf, String)>, crate::BoxError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo.join("statemachines"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".asl.json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let machine: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
            let target = repo
                .join("docs/statemachines")
                .join(name.replace(".asl.json", ".md"));
            Ok((target, page(&name, &machine)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_read_like_conditions() {
        assert_eq!(
            describe_rule(&json!({"Variable": "$.a", "StringEquals": "X"})),
            "$.a == X"
        );
        assert_eq!(
            describe_rule(&json!({"Variable": "$.n", "NumericGreaterThanEquals": 3})),
            "$.n >= 3"
        );
        assert_eq!(
            describe_rule(
                &json!({"And": [{"Variable": "$.a", "BooleanEquals": true}, {"Not": {"Variable": "$.b", "StringEquals": "c"}}]})
            ),
            "$.a == true and not ($.b == c)"
        );
    }

    #[test]
    fn a_machine_with_choice_catch_and_map() {
        let machine = json!({
            "StartAt": "A",
            "States": {
                "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "B",
                      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
                "B": {"Type": "Choice", "Choices": [{"Variable": "$.x", "StringEquals": "y", "Next": "M"}], "Default": "F"},
                "M": {"Type": "Map", "ItemProcessor": {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": true}}}, "End": true},
                "F": {"Type": "Fail"}
            }
        });
        let chart = mermaid(&machine);
        assert!(chart.contains("start --> s_A"), "{chart}");
        assert!(chart.contains("s_B -- \"$.x == y\" --> s_M"), "{chart}");
        assert!(
            chart.contains("s_A -. \"catch States.ALL\" .-> s_F"),
            "{chart}"
        );
        assert!(chart.contains("subgraph s_M [\"M (Map)\"]"), "{chart}");
        assert!(chart.contains("s_M_0_start --> s_M_0__Inner"), "{chart}");
        assert!(chart.contains("s_F[[\"F"), "{chart}");
        assert!(chart.contains("s_M --> finish((End))"), "{chart}");
    }

    #[test]
    fn the_committed_diagrams_are_up_to_date() {
        let repo = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../..");
        for (path, content) in pages(&repo).unwrap() {
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == content,
                "{} is out of date: run `cargo run -p stackgate-local -- diagrams`",
                path.display()
            );
        }
    }
}
