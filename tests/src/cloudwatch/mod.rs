//! CloudWatch in miniature, for alarm tests: a store of data points (from the functions' EMF
//! lines and from the AWS service models), the statistics CloudWatch computes per period, and
//! an evaluator of the template's alarms that follows CloudWatch's documented rules.
//!
//! What CloudWatch documents and this models: a metric is one exact dimension set (a query for
//! a subset matches nothing); an alarm evaluates every minute over its last `EvaluationPeriods`
//! complete periods; `M out of N`; the four missing-data treatments; actions on state changes
//! only (`docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html`).

pub mod alarm;
pub mod dashboard;
pub mod emf;
pub mod insights;
pub mod math;

use std::collections::{BTreeMap, BTreeSet};

/// Dimensions of a metric: name to value.
pub type Dimensions = BTreeMap<String, String>;

/// One observation.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint {
    pub namespace: String,
    pub name: String,
    pub dimensions: Dimensions,
    pub at_ms: i64,
    pub value: f64,
}

/// A metric as CloudWatch keys it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricKey {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
}

impl MetricKey {
    pub fn new(namespace: &str, name: &str, dimensions: &Dimensions) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions: dimensions.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        }
    }

    pub fn dimension_names(&self) -> BTreeSet<&str> {
        self.dimensions.iter().map(|(k, _)| k.as_str()).collect()
    }
}

impl std::fmt::Display for MetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dims: Vec<String> = self.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write!(f, "{}/{} {{{}}}", self.namespace, self.name, dims.join(", "))
    }
}

/// A statistic over one period's observations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Sum,
    Maximum,
    Minimum,
    Average,
    SampleCount,
    /// `pNN`.
    Percentile(u8),
}

impl Stat {
    pub fn parse(name: &str) -> Result<Self, String> {
        Ok(match name {
            "Sum" | "SUM" => Stat::Sum,
            "Maximum" | "MAX" => Stat::Maximum,
            "Minimum" | "MIN" => Stat::Minimum,
            "Average" | "AVG" => Stat::Average,
            "SampleCount" | "COUNT" => Stat::SampleCount,
            other => match other.strip_prefix('p').map(str::parse::<u8>) {
                Some(Ok(n)) if n <= 100 => Stat::Percentile(n),
                _ => return Err(format!("statistic {other} is not modelled")),
            },
        })
    }

    pub fn of(self, values: &[f64]) -> Option<f64> {
        if values.is_empty() {
            return None;
        }
        #[allow(clippy::cast_precision_loss)]
        let n = values.len() as f64;
        Some(match self {
            Stat::Sum => values.iter().sum(),
            Stat::Maximum => values.iter().copied().fold(f64::MIN, f64::max),
            Stat::Minimum => values.iter().copied().fold(f64::MAX, f64::min),
            Stat::Average => values.iter().sum::<f64>() / n,
            Stat::SampleCount => n,
            Stat::Percentile(p) => {
                let mut sorted = values.to_vec();
                sorted.sort_by(f64::total_cmp);
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let rank = ((f64::from(p) / 100.0) * (n - 1.0)).round() as usize;
                sorted[rank.min(sorted.len() - 1)]
            }
        })
    }
}

/// A time series by period start (Unix ms).
pub type Series = BTreeMap<i64, f64>;

/// Every observation a run produced, by metric name and in time order within each name
/// (queries look only at one name's points in their time range).
#[derive(Debug, Clone, Default)]
pub struct MetricStore {
    by_name: BTreeMap<(String, String), Vec<Datapoint>>,
}

impl MetricStore {
    pub fn put(&mut self, point: Datapoint) {
        let points = self
            .by_name
            .entry((point.namespace.clone(), point.name.clone()))
            .or_default();
        // Points arrive nearly in order; insert keeps each list sorted by time.
        let at = points.partition_point(|p| p.at_ms <= point.at_ms);
        points.insert(at, point);
    }

    /// The data points of one EMF line, one per dimension set it declares.
    pub fn put_emf(&mut self, line: &str) -> Result<usize, String> {
        let points = emf::parse(line)?;
        let n = points.len();
        for p in points {
            self.put(p);
        }
        Ok(n)
    }

    pub fn points(&self) -> impl Iterator<Item = &Datapoint> {
        self.by_name.values().flatten()
    }

    /// The points of one metric name in `[from_ms, to_ms)`.
    pub fn points_of(&self, namespace: &str, name: &str, from_ms: i64, to_ms: i64) -> &[Datapoint] {
        let Some(points) = self.by_name.get(&(namespace.to_owned(), name.to_owned())) else {
            return &[];
        };
        let start = points.partition_point(|p| p.at_ms < from_ms);
        let end = points.partition_point(|p| p.at_ms < to_ms);
        &points[start..end]
    }

    /// Every metric with at least one observation.
    pub fn keys(&self) -> BTreeSet<MetricKey> {
        self.points()
            .map(|p| MetricKey::new(&p.namespace, &p.name, &p.dimensions))
            .collect()
    }

    /// `stat` per `period_s` period of the metric with exactly these dimensions, for the
    /// periods starting in `[from_ms, to_ms)`; periods without observations are absent.
    pub fn series(&self, key: &MetricKey, stat: Stat, period_s: i64, from_ms: i64, to_ms: i64) -> Series {
        self.series_where(&key.namespace, &key.name, stat, period_s, from_ms, to_ms, |p| {
            p.dimensions.len() == key.dimensions.len()
                && key.dimensions.iter().all(|(k, v)| p.dimensions.get(k) == Some(v))
        })
    }

    /// Like [`MetricStore::series`] over the observations of one name that `matches` picks.
    #[allow(clippy::too_many_arguments)]
    pub fn series_where(
        &self,
        namespace: &str,
        name: &str,
        stat: Stat,
        period_s: i64,
        from_ms: i64,
        to_ms: i64,
        matches: impl Fn(&Datapoint) -> bool,
    ) -> Series {
        let period_ms = period_s * 1000;
        let from = from_ms.div_euclid(period_ms) * period_ms;
        let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for p in self
            .points_of(namespace, name, from, to_ms)
            .iter()
            .filter(|p| matches(p))
        {
            let start = p.at_ms.div_euclid(period_ms) * period_ms;
            if start >= from_ms && start < to_ms {
                buckets.entry(start).or_default().push(p.value);
            }
        }
        buckets
            .into_iter()
            .filter_map(|(t, values)| stat.of(&values).map(|v| (t, v)))
            .collect()
    }
}
