//! `stackgate-local metrics`: the figures the dashboard shows in AWS, read from the functions' log on
//! the local stack (their embedded-metric-format lines, as CloudWatch Logs would read them).

use std::collections::BTreeMap;

use serde::Serialize;
use stackgate::metrics::{read, Reading};

/// One metric series: its name and dimensions, and what was published under them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Series {
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    pub unit: String,
    /// Datapoints published.
    pub samples: usize,
    pub sum: f64,
    pub p50: f64,
    pub maximum: f64,
}

/// A series' name, dimensions (sorted) and unit.
type SeriesKey = (String, Vec<(String, String)>, String);

/// Every series in a log, ordered by name and dimensions. Lines that are not EMF are skipped: the
/// log also holds the functions' own lines and cargo-lambda's.
pub fn series(log: &str) -> Vec<Series> {
    let mut grouped: BTreeMap<SeriesKey, Vec<f64>> = BTreeMap::new();
    for reading in log.lines().flat_map(read) {
        let Reading {
            name,
            unit,
            value,
            mut dimensions,
            ..
        } = reading;
        dimensions.sort();
        grouped
            .entry((name, dimensions, unit))
            .or_default()
            .push(value);
    }
    grouped
        .into_iter()
        .map(|((name, dimensions, unit), mut values)| {
            values.sort_by(f64::total_cmp);
            Series {
                name,
                dimensions: dimensions.into_iter().collect(),
                unit,
                samples: values.len(),
                sum: values.iter().sum(),
                p50: values[(values.len() - 1) / 2],
                maximum: values[values.len() - 1],
            }
        })
        .collect()
}

/// A table for people: counts as totals, durations as samples, median and maximum.
pub fn render(series: &[Series]) -> String {
    if series.is_empty() {
        return "no metrics in the log yet (run a deployment first)\n".to_string();
    }
    let rows: Vec<(String, String, String)> = series
        .iter()
        .map(|s| {
            let dimensions = s
                .dimensions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            let value = match s.unit.as_str() {
                "Count" => format!("{}", s.sum),
                "Seconds" => format!(
                    "{} samples, p50 {:.1} s, max {:.1} s",
                    s.samples, s.p50, s.maximum
                ),
                unit => format!("{} {unit}", s.sum),
            };
            (s.name.clone(), dimensions, value)
        })
        .collect();
    let name_width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(6);
    let dimension_width = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(10);
    let mut text = format!(
        "{:name_width$}  {:dimension_width$}  value\n",
        "metric", "dimensions"
    );
    for (name, dimensions, value) in rows {
        text.push_str(&format!(
            "{name:name_width$}  {dimensions:dimension_width$}  {value}\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackgate::metrics::{document, names, Metric};

    fn line(metric: Metric) -> String {
        document(&metric, "stackgate", 1).to_string()
    }

    #[test]
    fn counts_add_up_and_durations_keep_their_median_and_maximum() {
        let created = || {
            line(
                Metric::count(names::DEPLOYMENTS)
                    .in_environment(Some("api"))
                    .with("Outcome", "CREATED"),
            )
        };
        let log = [
            " INFO spawning function instance function=\"stacks-api\"".to_string(),
            created(),
            "{\"level\":\"INFO\",\"message\":\"stack operation ended\"}".to_string(),
            created(),
            line(Metric::seconds(names::PLAN_SECONDS, 3.0)),
            line(Metric::seconds(names::PLAN_SECONDS, 1.0)),
            line(Metric::seconds(names::PLAN_SECONDS, 8.0)),
        ]
        .join("\n");
        let series = series(&log);
        assert_eq!(series.len(), 2, "{series:?}");
        assert_eq!(series[0].name, "Deployments");
        assert_eq!(series[0].sum, 2.0);
        assert_eq!(
            series[0].dimensions,
            BTreeMap::from([
                ("Environment".to_string(), "api".to_string()),
                ("Outcome".to_string(), "CREATED".to_string())
            ])
        );
        assert_eq!(
            (series[1].samples, series[1].p50, series[1].maximum),
            (3, 3.0, 8.0)
        );
        let table = render(&series);
        assert!(
            table.contains("Deployments  Environment=api Outcome=CREATED  2"),
            "{table}"
        );
        assert!(table.contains("3 samples, p50 3.0 s, max 8.0 s"), "{table}");
    }

    #[test]
    fn an_empty_log_says_so() {
        assert!(series("").is_empty());
        assert!(render(&[]).starts_with("no metrics"));
    }
}
