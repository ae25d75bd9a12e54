//! The part of CloudWatch Metrics Insights the template's alarms use
//! (`AmazonCloudWatch/latest/monitoring/cloudwatch-metrics-insights-querylanguage.html`):
//! `SELECT FUNC(metric) FROM SCHEMA(namespace, keys...) | namespace [WHERE key = | != 'value'
//! [AND ...]] [GROUP BY key, ...] [ORDER BY FUNC() ASC|DESC] [LIMIT n]`. `SCHEMA` matches only
//! metrics with exactly those dimension keys; `ORDER BY` ranks the groups over the queried time
//! range. Anything else is an error.

use std::collections::{BTreeMap, BTreeSet};

use super::{Datapoint, MetricStore, Series, Stat};

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub function: Stat,
    pub metric: String,
    pub namespace: String,
    /// `SCHEMA`'s keys; `None` for a bare namespace (any dimensions).
    pub schema: Option<BTreeSet<String>>,
    /// (key, equal?, value)
    pub filters: Vec<(String, bool, String)>,
    pub group_by: Vec<String>,
    /// (function, descending)
    pub order_by: Option<(Stat, bool)>,
    pub limit: Option<usize>,
}

fn words(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|x| *x == c)
                .ok_or_else(|| format!("unterminated quote in {text}"))?;
            let quoted: String = chars[i + 1..i + 1 + end].iter().collect();
            // Single quotes are values, double quotes names: keep the difference.
            out.push(if c == '\'' { format!("'{quoted}") } else { quoted });
            i += end + 2;
        } else if "(),".contains(c) {
            out.push(c.to_string());
            i += 1;
        } else if c == '!' || c == '=' {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if two == "!=" {
                out.push(two);
                i += 2;
            } else {
                out.push("=".into());
                i += 1;
            }
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() && !"(),'\"!=".contains(chars[i]) {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    Ok(out)
}

/// The words of a query and a cursor over them.
struct Words<'a> {
    text: &'a str,
    words: Vec<String>,
    at: usize,
}

impl Words<'_> {
    fn take(&mut self) -> Result<String, String> {
        let word = self
            .words
            .get(self.at)
            .cloned()
            .ok_or_else(|| format!("query ends early: {}", self.text))?;
        self.at += 1;
        Ok(word)
    }

    fn keyword(&mut self, k: &str) -> Result<(), String> {
        let word = self.take()?;
        if word.eq_ignore_ascii_case(k) {
            Ok(())
        } else {
            Err(format!("expected {k}, found {word} in {}", self.text))
        }
    }

    fn peek_is(&self, word: &str) -> bool {
        self.words.get(self.at).is_some_and(|w| w.eq_ignore_ascii_case(word))
    }

    /// `SCHEMA(namespace, key, ...)` or a namespace.
    fn source(&mut self) -> Result<(String, Option<BTreeSet<String>>), String> {
        let first = self.take()?;
        if !first.eq_ignore_ascii_case("SCHEMA") {
            return Ok((first, None));
        }
        self.keyword("(")?;
        let namespace = self.take()?;
        let mut keys = BTreeSet::new();
        loop {
            match self.take()?.as_str() {
                ")" => return Ok((namespace, Some(keys))),
                "," => {
                    keys.insert(self.take()?);
                }
                other => return Err(format!("unexpected {other} in SCHEMA of {}", self.text)),
            }
        }
    }

    /// `key = 'value'` or `key != 'value'`.
    fn filter(&mut self) -> Result<(String, bool, String), String> {
        let key = self.take()?;
        let equal = match self.take()?.as_str() {
            "=" => true,
            "!=" => false,
            other => return Err(format!("operator {other} is not modelled: {}", self.text)),
        };
        let value = self.take()?;
        let value = value
            .strip_prefix('\'')
            .ok_or_else(|| format!("a WHERE value in single quotes: {}", self.text))?;
        Ok((key, equal, value.to_owned()))
    }

    /// `FUNC() [ASC|DESC]` after ORDER BY.
    fn order(&mut self) -> Result<(Stat, bool), String> {
        let f = Stat::parse(&self.take()?.to_ascii_uppercase())?;
        self.keyword("(")?;
        self.keyword(")")?;
        let descending = self.peek_is("DESC");
        if descending || self.peek_is("ASC") {
            self.at += 1;
        }
        Ok((f, descending))
    }
}

pub fn parse(text: &str) -> Result<Query, String> {
    let mut w = Words {
        text,
        words: words(text)?,
        at: 0,
    };
    w.keyword("SELECT")?;
    let function = Stat::parse(&w.take()?.to_ascii_uppercase())?;
    w.keyword("(")?;
    let metric = w.take()?;
    w.keyword(")")?;
    w.keyword("FROM")?;
    let (namespace, schema) = w.source()?;
    let mut query = Query {
        function,
        metric,
        namespace,
        schema,
        filters: Vec::new(),
        group_by: Vec::new(),
        order_by: None,
        limit: None,
    };
    while w.at < w.words.len() {
        match w.take()?.to_ascii_uppercase().as_str() {
            "WHERE" | "AND" => query.filters.push(w.filter()?),
            "GROUP" => {
                w.keyword("BY")?;
                query.group_by.push(w.take()?);
                while w.peek_is(",") {
                    w.at += 1;
                    query.group_by.push(w.take()?);
                }
            }
            "ORDER" => {
                w.keyword("BY")?;
                query.order_by = Some(w.order()?);
            }
            "LIMIT" => query.limit = Some(w.take()?.parse().map_err(|_| format!("bad LIMIT in {text}"))?),
            other => return Err(format!("clause {other} is not modelled: {text}")),
        }
    }
    Ok(query)
}

impl Query {
    fn matches(&self, p: &Datapoint) -> bool {
        p.namespace == self.namespace
            && p.name == self.metric
            && self
                .schema
                .as_ref()
                .is_none_or(|keys| p.dimensions.keys().cloned().collect::<BTreeSet<_>>() == *keys)
            && self.filters.iter().all(|(k, equal, v)| match p.dimensions.get(k) {
                Some(actual) => (actual == v) == *equal,
                None => !*equal,
            })
            && self.group_by.iter().all(|k| p.dimensions.contains_key(k))
    }

    /// The result series, ranked and limited, for the periods starting in `[from_ms, to_ms)`.
    pub fn run(&self, store: &MetricStore, period_s: i64, from_ms: i64, to_ms: i64) -> Vec<(String, Series)> {
        let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut labels = BTreeSet::new();
        for p in store
            .points_of(&self.namespace, &self.metric, from_ms, to_ms)
            .iter()
            .filter(|p| self.matches(p))
        {
            let label: Vec<&str> = self.group_by.iter().map(|k| p.dimensions[k].as_str()).collect();
            let label = label.join(" ");
            groups.entry(label.clone()).or_default().push(p.value);
            labels.insert(label);
        }
        let mut result: Vec<(String, Series, f64)> = labels
            .into_iter()
            .filter_map(|label| {
                let series = store.series_where(
                    &self.namespace,
                    &self.metric,
                    self.function,
                    period_s,
                    from_ms,
                    to_ms,
                    |p| {
                        self.matches(p) && {
                            let l: Vec<&str> = self.group_by.iter().map(|k| p.dimensions[k].as_str()).collect();
                            l.join(" ") == label
                        }
                    },
                );
                let rank = self
                    .order_by
                    .and_then(|(f, _)| groups.get(&label).and_then(|v| f.of(v)))
                    .unwrap_or(0.0);
                (!series.is_empty()).then_some((label, series, rank))
            })
            .collect();
        if let Some((_, descending)) = self.order_by {
            result.sort_by(|a, b| {
                let o = a.2.partial_cmp(&b.2).unwrap_or(std::cmp::Ordering::Equal);
                if descending { o.reverse() } else { o }
            });
        }
        if let Some(limit) = self.limit {
            result.truncate(limit);
        }
        result.into_iter().map(|(l, s, _)| (l, s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudwatch::Dimensions;

    fn point(service: &str, reason: &str, at_ms: i64) -> Datapoint {
        let dimensions: Dimensions = [
            ("Function".to_owned(), "webhook-ingest".to_owned()),
            ("Reason".to_owned(), reason.to_owned()),
            ("Service".to_owned(), service.to_owned()),
        ]
        .into();
        Datapoint {
            namespace: "SinchBridge".into(),
            name: "WebhookRejected".into(),
            dimensions,
            at_ms,
            value: 1.0,
        }
    }

    #[test]
    fn the_worst_group_of_the_exact_schema_is_returned() {
        let q = parse("SELECT SUM(WebhookRejected) FROM SCHEMA(SinchBridge, Function, Reason, Service) WHERE Reason = 'signature_mismatch' GROUP BY Service ORDER BY SUM() DESC LIMIT 1").unwrap();
        let mut store = MetricStore::default();
        store.put(point("a", "signature_mismatch", 1_000));
        store.put(point("b", "signature_mismatch", 2_000));
        store.put(point("b", "signature_mismatch", 61_000));
        store.put(point("a", "replayed_nonce", 3_000));
        let mut other_schema = point("a", "signature_mismatch", 4_000);
        other_schema.dimensions.remove("Service");
        store.put(other_schema);
        let result = q.run(&store, 60, 0, 120_000);
        assert_eq!(result.len(), 1);
        assert_eq!(result[0].0, "b");
        assert_eq!(result[0].1, [(0, 1.0), (60_000, 1.0)].into());
    }
}
