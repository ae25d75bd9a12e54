//! Every metric the template's alarms and dashboard ask for is one that is published, with
//! that exact dimension set and a statistic that fits it: read from the template on one side,
//! and on the other from the EMF lines the functions print and the metrics the AWS models
//! publish under every fault (`bridge_tests::sim::every_fault`). CloudWatch matches a query
//! only to a published dimension set, so a widget asking for `{Function}` of a metric published
//! only with `{Function, Cause}` shows nothing: this is the test that says so. Also: the metric
//! lines survive every log level the template allows, and reference.md's metric table lists
//! the dimension sets that are published.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use bridge_tests::cfn::{Stack, Template};
use bridge_tests::cloudwatch::alarm::{Alarm, MetricStat, Source};
use bridge_tests::cloudwatch::{MetricKey, Stat, dashboard};
use bridge_tests::sim::{Run, every_fault, run};
use serde_json::Value;

/// Every run of `every_fault`, on the template's defaults.
async fn runs() -> Vec<Run> {
    let mut runs = Vec::new();
    for scenario in every_fault() {
        runs.push(run(&scenario).await);
    }
    runs
}

fn published(runs: &[Run]) -> BTreeSet<MetricKey> {
    runs.iter().flat_map(|r| r.store.keys()).collect()
}

/// The EMF unit of each metric the functions print.
fn units(runs: &[Run]) -> BTreeMap<String, String> {
    let mut units = BTreeMap::new();
    for line in runs.iter().flat_map(|r| &r.emf_lines) {
        let v: Value = serde_json::from_str(line).unwrap();
        for m in v["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap() {
            units.insert(
                m["Name"].as_str().unwrap().to_owned(),
                m["Unit"].as_str().unwrap().to_owned(),
            );
        }
    }
    units
}

/// What kind of number a metric is, which decides the statistics that mean something: a
/// count is summed, a level (an age, a depth, a latency) is maxed or averaged.
fn is_count(key: &MetricKey, units: &BTreeMap<String, String>) -> bool {
    match key.namespace.as_str() {
        "SinchBridge" => units
            .get(&key.name)
            .map_or(key.name == "WebhookThrottled", |u| u == "Count"),
        "AWS/SQS" => key.name.starts_with("NumberOf"),
        "AWS/Lambda" => ["Invocations", "Errors", "Throttles"].contains(&key.name.as_str()),
        "AWS/ApiGateway" => ["Count", "4xx", "5xx"].contains(&key.name.as_str()),
        other => panic!("namespace {other} is not modelled"),
    }
}

fn check_stat(what: &str, m: &MetricStat, units: &BTreeMap<String, String>) {
    let fits = if is_count(&m.key, units) {
        matches!(m.stat, Stat::Sum | Stat::SampleCount)
    } else {
        !matches!(m.stat, Stat::Sum | Stat::SampleCount)
    };
    assert!(
        fits,
        "{what}: {} of {} does not fit the kind of metric it is",
        m.stat_name, m.key
    );
}

fn check_published(what: &str, key: &MetricKey, published: &BTreeSet<MetricKey>) {
    if published.contains(key) {
        return;
    }
    let same_name: Vec<String> = published
        .iter()
        .filter(|k| k.name == key.name)
        .map(ToString::to_string)
        .collect();
    panic!("{what} asks for {key}, which nothing publishes; published under that name: {same_name:?}");
}

fn stack() -> Stack {
    Template::load()
        .stack("sim", &[("ServiceNames", "eu1"), ("EnableSentQueue", "true")])
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alarm_and_widget_metric_is_one_the_fault_runs_publish() {
    let runs = runs().await;
    let published = published(&runs);
    let units = units(&runs);
    let stack = stack();
    let mut checked = 0;
    for (id, resource) in stack.resources_of_type("AWS::CloudWatch::Alarm") {
        let alarm = Alarm::from_resource(&id, &resource).unwrap();
        for m in alarm.metric_stats() {
            check_published(&id, &m.key, &published);
            check_stat(&id, &m, &units);
            checked += 1;
        }
        if let Source::Insights(query) = &alarm.source {
            let schema = query.schema.clone().expect("alarm queries name their SCHEMA");
            let matching = published.iter().any(|k| {
                k.namespace == query.namespace
                    && k.name == query.metric
                    && k.dimension_names()
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<BTreeSet<_>>()
                        == schema
                    && query
                        .filters
                        .iter()
                        .all(|(key, equal, value)| k.dimensions.iter().any(|(n, v)| n == key && (v == value) == *equal))
            });
            assert!(matching, "{id}: its query matches nothing published: {query:?}");
            checked += 1;
        }
    }
    let body = stack.resource("Dashboard")["Properties"]["DashboardBody"]
        .as_str()
        .unwrap()
        .to_owned();
    for (widget, m) in dashboard::metrics(&body).unwrap() {
        check_published(&format!("dashboard widget {widget:?}"), &m.key, &published);
        check_stat(&format!("dashboard widget {widget:?}"), &m, &units);
        checked += 1;
    }
    println!(
        "{checked} alarm and widget metrics checked against {} published metrics",
        published.len()
    );
}

/// Lambda's filter for JSON logs: a line's `level` (any case), INFO when missing or invalid;
/// kept when at or above the function's level (Lambda developer guide, log-level filtering).
fn kept(line: &str, function_level: &str) -> bool {
    const ORDER: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let rank = |l: &str| ORDER.iter().position(|o| o.eq_ignore_ascii_case(l));
    let level = serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v["level"].as_str().and_then(rank))
        .unwrap_or(2);
    level >= rank(function_level).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metric_lines_survive_every_log_level_the_template_allows() {
    let run = run(&every_fault()[0]).await;
    assert!(!run.emf_lines.is_empty());
    let template = Template::load();
    let levels = template.parameter("LogLevel").allowed_values.unwrap();
    for level in &levels {
        let stack = template
            .stack("sim", &[("ServiceNames", "eu1"), ("LogLevel", level)])
            .unwrap();
        for (id, function) in stack.resources_of_type("AWS::Serverless::Function") {
            let logging = &function["Properties"]["LoggingConfig"];
            let applied = logging["ApplicationLogLevel"].as_str().unwrap();
            assert_eq!(logging["LogFormat"], "JSON", "{id}: level filtering needs JSON logs");
            let dropped = run.emf_lines.iter().filter(|l| !kept(l, applied)).count();
            assert_eq!(
                dropped, 0,
                "{id} at LogLevel={level}: Lambda would drop {dropped} metric lines"
            );
            // REPORT (duration, memory, init) and START are INFO-level platform lines.
            let system = logging["SystemLogLevel"].as_str().unwrap();
            assert!(
                ["DEBUG", "INFO"].contains(&system),
                "{id}: SystemLogLevel {system} drops Lambda's REPORT lines"
            );
        }
    }
    // The filter itself: what WARN would do to a metric line.
    assert!(!kept(&run.emf_lines[0], "WARN"));
}

/// reference.md's metric table: each metric's dimension sets, as `{A, B}` groups.
fn documented_sets() -> BTreeMap<String, BTreeSet<BTreeSet<String>>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/reference.md")).unwrap();
    let start = doc.find("| metric | function | dimension sets |").unwrap();
    doc[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let cells: Vec<&str> = row.split('|').collect();
            let name = cells[1].trim().trim_matches('`').to_owned();
            let sets = cells[3]
                .split('}')
                .filter_map(|g| g.split_once('{').map(|(_, inner)| inner))
                .map(|inner| inner.split(',').map(|d| d.trim().to_owned()).collect())
                .collect();
            (name, sets)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_lists_the_dimension_sets_the_functions_publish() {
    let runs = runs().await;
    let mut published: BTreeMap<String, BTreeSet<BTreeSet<String>>> = BTreeMap::new();
    for key in published_keys(&runs) {
        published
            .entry(key.name.clone())
            .or_default()
            .insert(key.dimension_names().into_iter().map(str::to_owned).collect());
    }
    let documented = documented_sets();
    for (metric, sets) in &documented {
        assert_eq!(
            published.get(metric),
            Some(sets),
            "{metric}: docs/reference.md's dimension sets against what the fault runs published"
        );
    }
    let undocumented: Vec<&String> = published.keys().filter(|m| !documented.contains_key(*m)).collect();
    assert!(
        undocumented.is_empty(),
        "published but not in docs/reference.md: {undocumented:?}"
    );
}

/// The bridge's own metrics (the functions' EMF lines), not the AWS models'.
fn published_keys(runs: &[Run]) -> BTreeSet<MetricKey> {
    published(runs)
        .into_iter()
        .filter(|k| k.namespace == "SinchBridge" && k.name != "WebhookThrottled")
        .collect()
}
