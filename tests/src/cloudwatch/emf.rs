//! CloudWatch Embedded Metric Format, read as CloudWatch Logs reads it: each directive's
//! dimension sets become metrics, each with the dimension values from the line's root
//! (specification: `AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html`).
//! A line that breaks the specification is an error, not skipped: CloudWatch would drop it.

use serde_json::Value;

use super::{Datapoint, Dimensions};

/// Whether `line` claims to be EMF (an `_aws` member at its root).
pub fn is_emf(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|v| v.get("_aws").is_some())
}

/// The data points of one EMF line.
pub fn parse(line: &str) -> Result<Vec<Datapoint>, String> {
    let root: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}: {line}"))?;
    let aws = root.get("_aws").ok_or_else(|| format!("no _aws member: {line}"))?;
    let at_ms = aws["Timestamp"]
        .as_i64()
        .ok_or_else(|| format!("_aws.Timestamp is not an integer of milliseconds: {line}"))?;
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .ok_or_else(|| format!("_aws.CloudWatchMetrics is not an array: {line}"))?;
    let mut points = Vec::new();
    for directive in directives {
        let namespace = directive["Namespace"]
            .as_str()
            .ok_or_else(|| format!("a directive without Namespace: {line}"))?;
        let metrics = directive["Metrics"]
            .as_array()
            .ok_or_else(|| format!("a directive without Metrics: {line}"))?;
        if metrics.len() > 100 {
            return Err(format!("more than 100 metrics in one directive: {line}"));
        }
        let sets = directive["Dimensions"]
            .as_array()
            .ok_or_else(|| format!("a directive without Dimensions: {line}"))?;
        for metric in metrics {
            let name = metric["Name"]
                .as_str()
                .ok_or_else(|| format!("a metric without Name: {line}"))?;
            let value = root[name]
                .as_f64()
                .ok_or_else(|| format!("metric {name} has no numeric value at the root: {line}"))?;
            for set in sets {
                let names = set
                    .as_array()
                    .ok_or_else(|| format!("a dimension set is not an array: {line}"))?;
                if names.len() > 30 {
                    return Err(format!("a dimension set with more than 30 keys: {line}"));
                }
                let mut dimensions = Dimensions::new();
                for dim in names {
                    let dim = dim
                        .as_str()
                        .ok_or_else(|| format!("a dimension name is not a string: {line}"))?;
                    let value = root[dim]
                        .as_str()
                        .ok_or_else(|| format!("dimension {dim} has no string value at the root: {line}"))?;
                    if value.is_empty() || value.chars().count() > 1024 {
                        return Err(format!(
                            "dimension {dim} is empty or longer than 1024 characters: {line}"
                        ));
                    }
                    dimensions.insert(dim.to_owned(), value.to_owned());
                }
                points.push(Datapoint {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    dimensions,
                    at_ms,
                    value,
                });
            }
        }
    }
    Ok(points)
}
