//! The metrics a dashboard body asks for: each widget's `metrics` rows, `[namespace, name,
//! dimension, value, ..., {options}]`, with the widget's statistic unless a row has its own.
//! The shorthand rows (`"."`, `"..."`) are refused: the template writes every row out so each
//! can be checked.

use serde_json::Value;

use super::alarm::MetricStat;
use super::{Dimensions, MetricKey, Stat};

pub fn metrics(body: &str) -> Result<Vec<(String, MetricStat)>, String> {
    let body: Value = serde_json::from_str(body).map_err(|e| format!("the dashboard body is not JSON: {e}"))?;
    let mut out = Vec::new();
    for widget in body["widgets"].as_array().into_iter().flatten() {
        let properties = &widget["properties"];
        let title = properties["title"].as_str().unwrap_or_default().to_owned();
        let widget_stat = properties["stat"].as_str().unwrap_or("Average");
        for row in properties["metrics"].as_array().into_iter().flatten() {
            let items = row
                .as_array()
                .ok_or_else(|| format!("{title}: a metrics row is not an array"))?;
            let (options, fields): (Vec<&Value>, Vec<&Value>) = items.iter().partition(|v| v.is_object());
            let fields: Vec<&str> = fields
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| format!("{title}: a metrics row holds a non-string"))
                })
                .collect::<Result<_, _>>()?;
            if fields.iter().any(|f| *f == "." || *f == "...") {
                return Err(format!("{title}: shorthand rows are not checked; write the row out"));
            }
            let [namespace, name, dims @ ..] = fields.as_slice() else {
                return Err(format!("{title}: a row without namespace and name"));
            };
            if dims.len() % 2 != 0 {
                return Err(format!("{title}: {name} has a dimension without a value"));
            }
            let dimensions: Dimensions = dims
                .chunks(2)
                .map(|pair| (pair[0].to_owned(), pair[1].to_owned()))
                .collect();
            let stat_name = options
                .first()
                .and_then(|o| o["stat"].as_str())
                .unwrap_or(widget_stat)
                .to_owned();
            let stat = Stat::parse(&stat_name)?;
            out.push((
                title.clone(),
                MetricStat {
                    key: MetricKey::new(namespace, name, &dimensions),
                    stat,
                    stat_name,
                },
            ));
        }
    }
    Ok(out)
}
