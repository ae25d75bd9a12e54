//! A template alarm and its evaluation as CloudWatch documents it
//! (`AmazonCloudWatch/latest/monitoring/alarm-evaluation.html`): every minute, the last
//! `EvaluationPeriods` complete periods; ALARM when at least `DatapointsToAlarm` of them breach;
//! missing periods per `TreatMissingData`; a notification only on a change of state. The period
//! still in progress is left out (the least convenient reading: a fault is seen one period late).

use std::collections::BTreeMap;

use serde_json::Value;

use super::insights::{self, Query};
use super::{Dimensions, MetricKey, MetricStore, Series, Stat, math};

/// One metric and statistic an alarm reads.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStat {
    pub key: MetricKey,
    pub stat: Stat,
    pub stat_name: String,
}

impl MetricStat {
    fn from_metric(metric: &Value, stat: &str) -> Result<Self, String> {
        let mut dimensions = Dimensions::new();
        for d in metric["Dimensions"].as_array().into_iter().flatten() {
            let name = d["Name"].as_str().ok_or("a dimension without Name")?;
            let value = d["Value"].as_str().ok_or("a dimension without a string Value")?;
            dimensions.insert(name.to_owned(), value.to_owned());
        }
        Ok(Self {
            key: MetricKey::new(
                metric["Namespace"].as_str().ok_or("no Namespace")?,
                metric["MetricName"].as_str().ok_or("no MetricName")?,
                &dimensions,
            ),
            stat: Stat::parse(stat)?,
            stat_name: stat.to_owned(),
        })
    }
}

#[derive(Debug, Clone)]
pub enum Source {
    Metric(MetricStat),
    Math {
        expression: String,
        metrics: BTreeMap<String, MetricStat>,
    },
    Insights(Query),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    NotBreaching,
    Breaching,
    Ignore,
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Ok,
    Alarm,
    InsufficientData,
}

#[derive(Debug, Clone)]
pub struct Alarm {
    pub id: String,
    pub source: Source,
    pub period_s: i64,
    pub evaluation_periods: usize,
    pub datapoints_to_alarm: usize,
    pub threshold: f64,
    pub comparison: String,
    pub missing: Missing,
    pub description: String,
}

/// An alarm's states over a run: when it changed, and to what.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub transitions: Vec<(i64, State)>,
}

impl History {
    /// Notifications to ALARM: pages.
    pub fn pages(&self) -> usize {
        self.transitions.iter().filter(|(_, s)| *s == State::Alarm).count()
    }

    pub fn first_alarm_ms(&self) -> Option<i64> {
        self.transitions
            .iter()
            .find(|(_, s)| *s == State::Alarm)
            .map(|(t, _)| *t)
    }

    pub fn last_state(&self) -> State {
        self.transitions.last().map_or(State::InsufficientData, |(_, s)| *s)
    }
}

impl Alarm {
    /// An `AWS::CloudWatch::Alarm` resource, resolved (parameters and attributes substituted).
    pub fn from_resource(id: &str, resource: &Value) -> Result<Self, String> {
        let p = &resource["Properties"];
        let (source, period_s) = if let Some(metrics) = p["Metrics"].as_array() {
            let returned: Vec<&Value> = metrics.iter().filter(|m| m["ReturnData"] != false).collect();
            let [result] = returned.as_slice() else {
                return Err(format!("{id}: exactly one Metrics entry must return data"));
            };
            let expression = result["Expression"]
                .as_str()
                .ok_or_else(|| format!("{id}: the returned entry has no Expression"))?;
            if expression.trim_start().to_ascii_uppercase().starts_with("SELECT") {
                let period = result["Period"]
                    .as_i64()
                    .ok_or_else(|| format!("{id}: a query without Period"))?;
                (Source::Insights(insights::parse(expression)?), period)
            } else {
                let mut stats = BTreeMap::new();
                let mut periods = Vec::new();
                for m in metrics.iter().filter(|m| m["MetricStat"].is_object()) {
                    let stat = &m["MetricStat"];
                    periods.push(
                        stat["Period"]
                            .as_i64()
                            .ok_or_else(|| format!("{id}: a MetricStat without Period"))?,
                    );
                    stats.insert(
                        m["Id"]
                            .as_str()
                            .ok_or_else(|| format!("{id}: an entry without Id"))?
                            .to_owned(),
                        MetricStat::from_metric(&stat["Metric"], stat["Stat"].as_str().unwrap_or_default())?,
                    );
                }
                periods.dedup();
                // "Each metric must be using the same period" (CloudWatch, math alarms).
                let [period] = periods.as_slice() else {
                    return Err(format!(
                        "{id}: the metrics of a math alarm need one period, not {periods:?}"
                    ));
                };
                (
                    Source::Math {
                        expression: expression.to_owned(),
                        metrics: stats,
                    },
                    *period,
                )
            }
        } else {
            (
                Source::Metric(MetricStat::from_metric(p, p["Statistic"].as_str().unwrap_or_default())?),
                p["Period"].as_i64().ok_or_else(|| format!("{id}: no Period"))?,
            )
        };
        let number = |v: &Value| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
        let evaluation_periods =
            number(&p["EvaluationPeriods"]).ok_or_else(|| format!("{id}: no EvaluationPeriods"))? as usize;
        let missing = match p["TreatMissingData"].as_str().unwrap_or("missing") {
            "notBreaching" => Missing::NotBreaching,
            "breaching" => Missing::Breaching,
            "ignore" => Missing::Ignore,
            "missing" => Missing::Missing,
            other => return Err(format!("{id}: TreatMissingData {other}")),
        };
        // "The number of evaluation periods ... multiplied by the length of each ... can't exceed one day."
        if period_s * evaluation_periods as i64 > 86_400 {
            return Err(format!("{id}: EvaluationPeriods x Period exceeds a day"));
        }
        Ok(Self {
            id: id.to_owned(),
            source,
            period_s,
            evaluation_periods,
            datapoints_to_alarm: number(&p["DatapointsToAlarm"]).map_or(evaluation_periods, |n| n as usize),
            threshold: number(&p["Threshold"]).ok_or_else(|| format!("{id}: no Threshold"))?,
            comparison: p["ComparisonOperator"].as_str().unwrap_or_default().to_owned(),
            missing,
            description: p["AlarmDescription"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// The metrics and statistics this alarm reads (an Insights query's are its own).
    pub fn metric_stats(&self) -> Vec<MetricStat> {
        match &self.source {
            Source::Metric(m) => vec![m.clone()],
            Source::Math { metrics, .. } => metrics.values().cloned().collect(),
            Source::Insights(_) => Vec::new(),
        }
    }

    fn breaches(&self, v: f64) -> Result<bool, String> {
        Ok(match self.comparison.as_str() {
            "GreaterThanThreshold" => v > self.threshold,
            "GreaterThanOrEqualToThreshold" => v >= self.threshold,
            "LessThanThreshold" => v < self.threshold,
            "LessThanOrEqualToThreshold" => v <= self.threshold,
            other => return Err(format!("{}: comparison {other} is not modelled", self.id)),
        })
    }

    /// The value of each of the last `EvaluationPeriods` complete periods before `at_ms`.
    pub fn window(&self, store: &MetricStore, at_ms: i64) -> Result<Vec<Option<f64>>, String> {
        let period_ms = self.period_s * 1000;
        let end = at_ms.div_euclid(period_ms) * period_ms;
        let start = end - period_ms * self.evaluation_periods as i64;
        let range: Vec<i64> = (0..self.evaluation_periods as i64)
            .map(|k| start + k * period_ms)
            .collect();
        let series: Series = match &self.source {
            Source::Metric(m) => store.series(&m.key, m.stat, self.period_s, start, end),
            Source::Math { expression, metrics } => {
                let inputs: BTreeMap<String, Series> = metrics
                    .iter()
                    .map(|(id, m)| (id.clone(), store.series(&m.key, m.stat, self.period_s, start, end)))
                    .collect();
                math::as_series(math::evaluate(expression, &inputs, &range)?, &range)?
            }
            Source::Insights(query) => {
                let mut result = query.run(store, self.period_s, start, end);
                if result.len() > 1 {
                    return Err(format!(
                        "{}: the query returns {} series, an alarm takes one",
                        self.id,
                        result.len()
                    ));
                }
                result.pop().map(|(_, s)| s).unwrap_or_default()
            }
        };
        Ok(range.iter().map(|t| series.get(t).copied()).collect())
    }

    /// The alarm's state after evaluating the window before `at_ms`, from `current`.
    pub fn state_at(&self, store: &MetricStore, at_ms: i64, current: State) -> Result<State, String> {
        let window = self.window(store, at_ms)?;
        if window.iter().all(Option::is_none) {
            return Ok(match self.missing {
                Missing::NotBreaching => State::Ok,
                Missing::Breaching => State::Alarm,
                Missing::Ignore => current,
                Missing::Missing => State::InsufficientData,
            });
        }
        let mut breaching = 0;
        for v in &window {
            let breach = match v {
                Some(v) => self.breaches(*v)?,
                None => self.missing == Missing::Breaching,
            };
            breaching += usize::from(breach);
        }
        Ok(if breaching >= self.datapoints_to_alarm {
            State::Alarm
        } else {
            State::Ok
        })
    }

    /// Evaluates every minute from `from_ms` to `to_ms`, as CloudWatch does.
    pub fn evaluate(&self, store: &MetricStore, from_ms: i64, to_ms: i64) -> Result<History, String> {
        let mut history = History::default();
        let mut state = State::InsufficientData;
        let mut t = from_ms;
        while t <= to_ms {
            let next = self.state_at(store, t, state)?;
            if next != state {
                history.transitions.push((t, next));
                state = next;
            }
            t += 60_000;
        }
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudwatch::Datapoint;
    use serde_json::json;

    fn alarm(periods: u64, datapoints: u64, missing: &str) -> Alarm {
        let resource = json!({"Properties": {
            "Namespace": "N", "MetricName": "M", "Statistic": "Sum", "Period": 60,
            "EvaluationPeriods": periods, "DatapointsToAlarm": datapoints, "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": missing}});
        Alarm::from_resource("A", &resource).unwrap()
    }

    fn store(points: &[(i64, f64)]) -> MetricStore {
        let mut s = MetricStore::default();
        for (minute, value) in points {
            s.put(Datapoint {
                namespace: "N".into(),
                name: "M".into(),
                dimensions: Dimensions::new(),
                at_ms: minute * 60_000,
                value: *value,
            });
        }
        s
    }

    #[test]
    fn m_out_of_n_pages_once_while_breaches_recur_and_clears_when_they_stop() {
        // Breaching at minutes 10, 12, 14: with 2 of 5, in ALARM from the second one, and OK
        // once fewer than two of the last five periods breach.
        let s = store(&[(10, 1.0), (12, 1.0), (14, 1.0)]);
        let h = alarm(5, 2, "notBreaching").evaluate(&s, 0, 30 * 60_000).unwrap();
        assert_eq!(h.pages(), 1);
        // The period of minute 12 completes at 13: evaluated then.
        assert_eq!(h.first_alarm_ms(), Some(13 * 60_000));
        assert_eq!(h.last_state(), State::Ok);
        // At minute 18 the window is 13..=17: one breach left.
        assert_eq!(h.transitions.last().map(|(t, _)| *t), Some(18 * 60_000));
    }

    #[test]
    fn missing_data_follows_its_treatment() {
        let none = store(&[]);
        assert_eq!(
            alarm(3, 1, "missing").state_at(&none, 600_000, State::Ok).unwrap(),
            State::InsufficientData
        );
        assert_eq!(
            alarm(3, 1, "ignore").state_at(&none, 600_000, State::Alarm).unwrap(),
            State::Alarm
        );
        assert_eq!(
            alarm(3, 1, "breaching").state_at(&none, 600_000, State::Ok).unwrap(),
            State::Alarm
        );
        assert_eq!(
            alarm(3, 1, "notBreaching")
                .state_at(&none, 600_000, State::Alarm)
                .unwrap(),
            State::Ok
        );
    }

    #[test]
    fn the_period_in_progress_is_not_evaluated() {
        let s = store(&[(10, 1.0)]);
        let a = alarm(1, 1, "notBreaching");
        assert_eq!(a.state_at(&s, 10 * 60_000 + 59_000, State::Ok).unwrap(), State::Ok);
        assert_eq!(a.state_at(&s, 11 * 60_000, State::Ok).unwrap(), State::Alarm);
    }
}
