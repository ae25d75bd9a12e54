//! The metrics Lambda and API Gateway publish, from what the run did: per invocation
//! `Invocations`, `Errors` (0 or 1: Lambda publishes 0 for an invocation without error) and
//! `Throttles` under `{FunctionName}` (Lambda metrics types page); per request `Count`, `4xx`,
//! `5xx` and `Latency` under `{ApiId, Stage}` (HTTP API metrics page). API Gateway's route
//! throttle is a token bucket of the stage's rate and burst ("targets rather than guaranteed
//! ceilings": here exact). Its access log lines go through the stack's metric filters.

use serde_json::Value;

use crate::cfn::Stack;
use crate::cloudwatch::{Datapoint, Dimensions, MetricStore};

#[derive(Debug, Default)]
pub struct LambdaMetrics {
    points: Vec<Datapoint>,
}

impl LambdaMetrics {
    fn put(&mut self, function: &str, name: &str, at_ms: i64, value: f64) {
        let dimensions: Dimensions = [("FunctionName".to_owned(), function.to_owned())].into();
        self.points.push(Datapoint {
            namespace: "AWS/Lambda".into(),
            name: name.into(),
            dimensions,
            at_ms,
            value,
        });
    }

    pub fn invoked(&mut self, function: &str, at_ms: i64, error: bool) {
        self.put(function, "Invocations", at_ms, 1.0);
        self.put(function, "Errors", at_ms, if error { 1.0 } else { 0.0 });
        self.put(function, "Throttles", at_ms, 0.0);
    }

    pub fn throttled(&mut self, function: &str, at_ms: i64) {
        self.put(function, "Throttles", at_ms, 1.0);
    }

    pub fn publish(&mut self, store: &mut MetricStore) {
        for p in self.points.drain(..) {
            store.put(p);
        }
    }
}

/// A metric filter of the stack: `{ $.field = "value" }` to one metric.
#[derive(Debug, Clone)]
struct MetricFilter {
    field: String,
    value: String,
    namespace: String,
    name: String,
    metric_value: f64,
}

#[derive(Debug)]
pub struct ApiGateway {
    api_id: String,
    rate: f64,
    burst: f64,
    tokens: f64,
    last_ms: Option<i64>,
    filters: Vec<MetricFilter>,
    points: Vec<Datapoint>,
}

impl ApiGateway {
    pub fn from_stack(stack: &Stack) -> Self {
        let api = stack.resource("WebhookApi");
        let route = &api["Properties"]["DefaultRouteSettings"];
        let number = |v: &Value| {
            v.as_f64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(0.0)
        };
        let access_log_group = stack.physical_id("ApiAccessLogGroup");
        let filters = stack
            .resources_of_type("AWS::Logs::MetricFilter")
            .into_iter()
            .filter(|(_, r)| r["Properties"]["LogGroupName"] == access_log_group.as_str())
            .map(|(id, r)| {
                let p = &r["Properties"];
                let pattern = p["FilterPattern"].as_str().unwrap_or_default();
                let (field, value) =
                    parse_filter(pattern).unwrap_or_else(|| panic!("{id}: filter {pattern} is not modelled"));
                let t = &p["MetricTransformations"][0];
                MetricFilter {
                    field,
                    value,
                    namespace: t["MetricNamespace"].as_str().unwrap_or_default().to_owned(),
                    name: t["MetricName"].as_str().unwrap_or_default().to_owned(),
                    metric_value: number(&t["MetricValue"]),
                }
            })
            .collect();
        let burst = number(&route["ThrottlingBurstLimit"]);
        Self {
            api_id: stack.physical_id("WebhookApi"),
            rate: number(&route["ThrottlingRateLimit"]),
            burst,
            tokens: burst,
            last_ms: None,
            filters,
            points: Vec::new(),
        }
    }

    /// Whether the route's throttle lets a request through at `at_ms`.
    pub fn admit(&mut self, at_ms: i64) -> bool {
        if let Some(last) = self.last_ms {
            #[allow(clippy::cast_precision_loss)]
            let refill = (at_ms - last) as f64 / 1000.0 * self.rate;
            self.tokens = (self.tokens + refill).min(self.burst.max(1.0));
        }
        self.last_ms = Some(at_ms);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// One answered request: the stage's metrics and its access log line.
    pub fn answered(&mut self, at_ms: i64, status: u16, latency_ms: f64) {
        let dimensions: Dimensions = [
            ("ApiId".to_owned(), self.api_id.clone()),
            ("Stage".to_owned(), "$default".to_owned()),
        ]
        .into();
        let mut put = |name: &str, value: f64| {
            self.points.push(Datapoint {
                namespace: "AWS/ApiGateway".into(),
                name: name.into(),
                dimensions: dimensions.clone(),
                at_ms,
                value,
            });
        };
        put("Count", 1.0);
        put("4xx", if (400..500).contains(&status) { 1.0 } else { 0.0 });
        put("5xx", if status >= 500 { 1.0 } else { 0.0 });
        put("Latency", latency_ms);
        // The access log line's fields as the template's format writes them (strings).
        let line = serde_json::json!({"status": status.to_string()});
        for f in &self.filters {
            if line[&f.field].as_str() == Some(f.value.as_str()) {
                self.points.push(Datapoint {
                    namespace: f.namespace.clone(),
                    name: f.name.clone(),
                    dimensions: Dimensions::new(),
                    at_ms,
                    value: f.metric_value,
                });
            }
        }
    }

    pub fn publish(&mut self, store: &mut MetricStore) {
        for p in self.points.drain(..) {
            store.put(p);
        }
    }
}

/// `{ $.field = "value" }` (CloudWatch Logs JSON filter syntax, one equality).
fn parse_filter(pattern: &str) -> Option<(String, String)> {
    let inner = pattern.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    let (field, value) = inner.split_once('=')?;
    let field = field.trim().strip_prefix("$.")?.to_owned();
    let value = value.trim().trim_matches('"').to_owned();
    Some((field, value))
}
