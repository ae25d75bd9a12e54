//! A template parameter and the values CloudFormation accepts for it.

use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Parameter {
    pub name: String,
    pub ty: String,
    pub default: Option<String>,
    pub allowed_values: Option<Vec<String>>,
    pub allowed_pattern: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub description: String,
}

impl Parameter {
    pub(super) fn from_template(name: &str, p: &Value) -> Self {
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        Self {
            name: name.to_owned(),
            ty: p["Type"].as_str().unwrap_or("String").to_owned(),
            default: text(&p["Default"]),
            allowed_values: p["AllowedValues"]
                .as_array()
                .map(|a| a.iter().filter_map(text).collect()),
            allowed_pattern: p["AllowedPattern"].as_str().map(str::to_owned),
            min: p["MinValue"].as_f64(),
            max: p["MaxValue"].as_f64(),
            description: p["Description"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// Whether CloudFormation accepts `value` (type, allowed values, pattern, range).
    pub fn check(&self, value: &str) -> Result<(), String> {
        let refuse = |why: String| Err(format!("{}={value:?}: {why}", self.name));
        if self.ty == "Number" && value.parse::<f64>().is_err() {
            return refuse("not a number".into());
        }
        if let Some(allowed) = &self.allowed_values
            && !allowed.iter().any(|a| a == value)
        {
            return refuse(format!("not one of {allowed:?}"));
        }
        if let Some(pattern) = &self.allowed_pattern {
            // CloudFormation matches the whole value.
            let anchored = regex_lite::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| e.to_string())?;
            if !anchored.is_match(value) {
                return refuse(format!("does not match {pattern}"));
            }
        }
        if let Ok(n) = value.parse::<f64>()
            && (self.min.is_some_and(|min| n < min) || self.max.is_some_and(|max| n > max))
        {
            return refuse(format!("outside {:?}..{:?}", self.min, self.max));
        }
        Ok(())
    }

    /// The values at this parameter's bounds: every allowed value, else the range's ends, else
    /// the default; `samples` stand in for free text (a pattern), checked against it.
    pub fn bounds(&self, samples: &[&str]) -> Vec<String> {
        let mut values: Vec<String> = if let Some(allowed) = &self.allowed_values {
            allowed.clone()
        } else if self.min.is_some() || self.max.is_some() {
            [self.min, self.max]
                .into_iter()
                .flatten()
                .map(|n| format!("{n}"))
                .collect()
        } else {
            samples.iter().map(|s| (*s).to_owned()).collect()
        };
        if values.is_empty()
            && let Some(d) = &self.default
        {
            values.push(d.clone());
        }
        for v in &values {
            if let Err(e) = self.check(v) {
                panic!("a bound CloudFormation would refuse: {e}");
            }
        }
        values.dedup();
        values
    }
}
