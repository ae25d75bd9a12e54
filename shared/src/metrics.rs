//! CloudWatch Embedded Metric Format: one JSON line per data point on stdout, which Lambda
//! ships to CloudWatch Logs and CloudWatch turns into metrics without any API call.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

pub const NAMESPACE: &str = "SinchBridge";

type Writer = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone)]
pub struct Metrics {
    function: &'static str,
    writer: Writer,
}

impl Metrics {
    /// Metrics written to stdout, as Lambda expects.
    pub fn stdout(function: &'static str) -> Self {
        Self::with_writer(function, Arc::new(|line: &str| println!("{line}")))
    }

    /// Metrics that go nowhere (local runs that don't want the noise, benches).
    pub fn discard(function: &'static str) -> Self {
        Self::with_writer(function, Arc::new(|_: &str| {}))
    }

    pub fn with_writer(function: &'static str, writer: Writer) -> Self {
        Self { function, writer }
    }

    pub fn count(&self, metric: &str, dimensions: &[(&str, &str)]) {
        self.emit(metric, 1.0, "Count", dimensions);
    }

    pub fn milliseconds(&self, metric: &str, value: f64, dimensions: &[(&str, &str)]) {
        self.emit(metric, value, "Milliseconds", dimensions);
    }

    fn emit(&self, metric: &str, value: f64, unit: &str, dimensions: &[(&str, &str)]) {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let mut names = vec![Value::from("Function")];
        names.extend(dimensions.iter().map(|(k, _)| Value::from(*k)));
        let mut line = Map::new();
        line.insert(
            "_aws".into(),
            json!({
                "Timestamp": u64::try_from(timestamp).unwrap_or(u64::MAX),
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [names],
                    "Metrics": [{"Name": metric, "Unit": unit}],
                }],
            }),
        );
        line.insert("Function".into(), Value::from(self.function));
        for (k, v) in dimensions {
            line.insert((*k).into(), Value::from(*v));
        }
        line.insert(metric.into(), Value::from(value));
        (self.writer)(&Value::Object(line).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn writes_one_emf_line_per_point() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let metrics = Metrics::with_writer(
            "webhook-ingest",
            Arc::new(move |l: &str| sink.lock().map(|mut v| v.push(l.to_owned())).unwrap_or(())),
        );
        metrics.count("Accepted", &[("Trigger", "MESSAGE_DELIVERY")]);
        let lines = lines.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(lines.len(), 1);
        let v: Value = serde_json::from_str(&lines[0]).unwrap_or_default();
        assert_eq!(v["Accepted"], 1.0);
        assert_eq!(v["Trigger"], "MESSAGE_DELIVERY");
        assert_eq!(v["Function"], "webhook-ingest");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Trigger"]])
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0],
            json!({"Name": "Accepted", "Unit": "Count"})
        );
    }
}
