//! CloudWatch Embedded Metric Format: one JSON line per data point on stdout, which Lambda
//! ships to CloudWatch Logs and CloudWatch turns into metrics without any API call.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

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
        use std::fmt::Write as _;
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        // Written by hand rather than through a JSON tree: this runs on every request. Every
        // name and value goes through `quote`, so the line is valid JSON whatever they hold.
        let mut line = String::with_capacity(256);
        let _ = write!(
            line,
            r#"{{"_aws":{{"Timestamp":{timestamp},"CloudWatchMetrics":[{{"Namespace":"{NAMESPACE}","Dimensions":[["Function""#
        );
        for (name, _) in dimensions {
            let _ = write!(line, ",{}", quote(name));
        }
        let _ = write!(
            line,
            r#"]],"Metrics":[{{"Name":{},"Unit":{}}}]}}]}},"Function":{}"#,
            quote(metric),
            quote(unit),
            quote(self.function)
        );
        for (name, v) in dimensions {
            let _ = write!(line, ",{}:{}", quote(name), quote(v));
        }
        let _ = write!(line, ",{}:{}}}", quote(metric), Value::from(value));
        (self.writer)(&line);
    }
}

/// A JSON string literal.
fn quote(text: &str) -> String {
    Value::from(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
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
        assert!(v["_aws"]["Timestamp"].as_u64().is_some_and(|t| t > 1_700_000_000_000));
    }

    #[test]
    fn odd_names_and_values_still_make_valid_json() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let metrics = Metrics::with_writer(
            "f",
            Arc::new(move |l: &str| sink.lock().map(|mut v| v.push(l.to_owned())).unwrap_or(())),
        );
        metrics.milliseconds("Latency", 1.5, &[("Channel", "quo\"te\\n\u{1}")]);
        let line = lines.lock().map(|v| v[0].clone()).unwrap_or_default();
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        assert_eq!(v["Channel"], "quo\"te\\n\u{1}");
        assert_eq!(v["Latency"], 1.5);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Channel"]])
        );
    }
}
