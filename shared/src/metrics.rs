//! CloudWatch Embedded Metric Format: one JSON line per data point on stdout, which Lambda
//! ships to CloudWatch Logs and CloudWatch turns into metrics without any API call.
//!
//! The lines carry no `level`: Lambda files them under INFO, so the template's `LogLevel`
//! stops at INFO (a WARN filter would drop every metric; tests/tests/signals.rs). CloudWatch
//! only answers a query whose dimension set matches a published one exactly, so each point is
//! published under every set an alarm or the dashboard asks for (`count_by`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::{Clock, SystemClock};

pub const NAMESPACE: &str = "SinchBridge";

macro_rules! metrics {
    ($($variant:ident,)*) => {
        /// Every metric the bridge emits; docs/reference.md's metric table is checked against this.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Metric { $($variant,)* }

        impl Metric {
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];

            pub fn name(&self) -> &'static str {
                match self { $(Metric::$variant => stringify!($variant),)* }
            }
        }
    };
}

metrics! {
    ColdStart,
    SecretFetch,
    SecretRefresh,
    WebhookAccepted,
    WebhookRejected,
    EnqueueLatency,
    MessageSent,
    MessageRetried,
    MessageDeadLettered,
    SendLatency,
    TokenRefresh,
    AuthRejected,
    SentRecordFailed,
    NonceStoreFailed,
    NonceClaimLapsed,
    RetryAge,
    DeadLetterFailed,
    StartRefused,
}

type Writer = Arc<dyn Fn(&str) + Send + Sync>;

#[derive(Clone)]
pub struct Metrics {
    function: &'static str,
    writer: Writer,
    clock: Arc<dyn Clock>,
    /// Shared by the clones one execution environment makes: its first invocation is cold.
    cold: Arc<AtomicBool>,
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
        Self {
            function,
            writer,
            clock: Arc::new(SystemClock),
            cold: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Counts `ColdStart` on the first call for this environment's metrics, and never again.
    pub fn cold_start(&self) {
        if self.cold.swap(false, Ordering::Relaxed) {
            self.count(Metric::ColdStart, &[]);
        }
    }

    /// Timestamps from `clock` (tests that compress hours into a run).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The `Function` dimension's value.
    pub fn function(&self) -> &'static str {
        self.function
    }

    /// One point with `Function` and `dimensions` as its one dimension set.
    pub fn count(&self, metric: Metric, dimensions: &[(&str, &str)]) {
        let names: Vec<&str> = dimensions.iter().map(|(n, _)| *n).collect();
        self.emit(metric.name(), 1.0, "Count", dimensions, &[&names]);
    }

    /// One point counted under several dimension sets at once (each also has `Function`):
    /// CloudWatch makes one metric per set, so a dashboard can ask for `{Function}` alone and
    /// an alarm for `{Function, Service}` while the line is written once.
    pub fn count_by(&self, metric: Metric, dimensions: &[(&str, &str)], sets: &[&[&str]]) {
        self.emit(metric.name(), 1.0, "Count", dimensions, sets);
    }

    pub fn milliseconds(&self, metric: Metric, value: f64, dimensions: &[(&str, &str)]) {
        let names: Vec<&str> = dimensions.iter().map(|(n, _)| *n).collect();
        self.emit(metric.name(), value, "Milliseconds", dimensions, &[&names]);
    }

    /// One point in seconds under `sets` (each also has `Function`).
    pub fn seconds_by(&self, metric: Metric, value: f64, dimensions: &[(&str, &str)], sets: &[&[&str]]) {
        self.emit(metric.name(), value, "Seconds", dimensions, sets);
    }

    fn emit(&self, metric: &str, value: f64, unit: &str, dimensions: &[(&str, &str)], sets: &[&[&str]]) {
        let timestamp = self.clock.unix_millis().max(0);
        // Written by hand rather than through a JSON tree: this runs twice per message sent.
        // Every name and value goes through `quote`, so the line is valid JSON whatever they hold.
        let mut line = Vec::with_capacity(320);
        line.extend_from_slice(br#"{"_aws":{"Timestamp":"#);
        line.extend_from_slice(timestamp.to_string().as_bytes());
        line.extend_from_slice(br#","CloudWatchMetrics":[{"Namespace":""#);
        line.extend_from_slice(NAMESPACE.as_bytes());
        line.extend_from_slice(br#"","Dimensions":["#);
        for (i, set) in sets.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            line.extend_from_slice(br#"["Function""#);
            for name in set.iter() {
                line.push(b',');
                quote(&mut line, name);
            }
            line.push(b']');
        }
        line.extend_from_slice(br#"],"Metrics":[{"Name":"#);
        quote(&mut line, metric);
        line.extend_from_slice(br#","Unit":"#);
        quote(&mut line, unit);
        line.extend_from_slice(br#"}]}]},"Function":"#);
        quote(&mut line, self.function);
        for (name, v) in dimensions {
            line.push(b',');
            quote(&mut line, name);
            line.push(b':');
            quote(&mut line, v);
        }
        line.push(b',');
        quote(&mut line, metric);
        line.push(b':');
        // A non-finite value becomes `null`, as serde_json writes it.
        let _ = serde_json::to_writer(&mut line, &value);
        line.push(b'}');
        // Only `quote`d strings and ASCII were written, so the line is UTF-8.
        if let Ok(line) = std::str::from_utf8(&line) {
            (self.writer)(line);
        }
    }
}

/// Appends `text` as a JSON string literal.
fn quote(line: &mut Vec<u8>, text: &str) {
    // Writing a `&str` into a `Vec` cannot fail; serde_json escapes what JSON requires.
    let _ = serde_json::to_writer(&mut *line, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::sync::Mutex;

    /// Metrics for `function` that keep their lines, and a way to read them.
    fn collected(function: &'static str) -> (Metrics, impl Fn() -> Vec<String>) {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let metrics = Metrics::with_writer(
            function,
            Arc::new(move |l: &str| sink.lock().map(|mut v| v.push(l.to_owned())).unwrap_or(())),
        );
        (metrics, move || lines.lock().map(|v| v.clone()).unwrap_or_default())
    }

    #[test]
    fn writes_one_emf_line_per_point() {
        let (metrics, lines) = collected("webhook-ingest");
        metrics.count(Metric::WebhookAccepted, &[("Trigger", "MESSAGE_DELIVERY")]);
        let lines = lines();
        assert_eq!(lines.len(), 1);
        let v: Value = serde_json::from_str(&lines[0]).unwrap_or_default();
        assert_eq!(v["WebhookAccepted"], 1.0);
        assert_eq!(v["Trigger"], "MESSAGE_DELIVERY");
        assert_eq!(v["Function"], "webhook-ingest");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], NAMESPACE);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Trigger"]])
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0],
            json!({"Name": "WebhookAccepted", "Unit": "Count"})
        );
        assert!(v["_aws"]["Timestamp"].as_u64().is_some_and(|t| t > 1_700_000_000_000));
    }

    #[test]
    fn odd_names_and_values_still_make_valid_json() {
        let (metrics, lines) = collected("f");
        metrics.milliseconds(Metric::SendLatency, 1.5, &[("Channel", "quo\"te\\n\u{1}")]);
        let v: Value = serde_json::from_str(&lines()[0]).unwrap_or_default();
        assert_eq!(v["Channel"], "quo\"te\\n\u{1}");
        assert_eq!(v["SendLatency"], 1.5);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Channel"]])
        );
    }

    #[test]
    fn one_point_can_be_counted_under_several_dimension_sets() {
        let (metrics, lines) = collected("webhook-ingest");
        metrics.count_by(
            Metric::WebhookAccepted,
            &[("Service", "eu1"), ("Trigger", "MESSAGE_INBOUND")],
            &[&[], &["Service"], &["Trigger"]],
        );
        let v: Value = serde_json::from_str(&lines()[0]).unwrap_or_default();
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function"], ["Function", "Service"], ["Function", "Trigger"]])
        );
        assert_eq!(
            (v["Service"].as_str(), v["Trigger"].as_str()),
            (Some("eu1"), Some("MESSAGE_INBOUND"))
        );
    }

    #[test]
    fn a_cold_start_is_counted_once_per_environment_whatever_the_clones() {
        let (metrics, lines) = collected("sender");
        let clone = metrics.clone();
        metrics.cold_start();
        clone.cold_start();
        metrics.cold_start();
        assert_eq!(lines().len(), 1);
        // Another environment's metrics count their own.
        let (other, other_lines) = collected("sender");
        other.cold_start();
        assert_eq!(other_lines().len(), 1);
    }

    #[test]
    fn timestamps_come_from_the_clock_given() {
        let (metrics, lines) = collected("sender");
        let clock = crate::testing::ManualClock::new(1_800_000_000);
        clock.advance(std::time::Duration::from_millis(1500));
        metrics.with_clock(clock).count(Metric::MessageSent, &[]);
        let v: Value = serde_json::from_str(&lines()[0]).unwrap_or_default();
        assert_eq!(v["_aws"]["Timestamp"], 1_800_000_001_500_i64);
    }

    #[test]
    fn a_non_finite_value_is_written_as_null() {
        let (metrics, lines) = collected("f");
        metrics.milliseconds(Metric::SendLatency, f64::NAN, &[]);
        let line = lines()[0].clone();
        let v: Value = serde_json::from_str(&line).unwrap_or_default();
        assert!(v["SendLatency"].is_null(), "{line}");
        assert_eq!(v["Function"], "f");
    }
}
