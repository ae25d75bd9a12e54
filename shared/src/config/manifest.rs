//! Which settings each function reads, as lists of the declarations its parsers use, and the
//! reference tables rendered from them. `shared/tests/docs.rs` holds `docs/reference.md` to
//! these tables; `tests/tests/template.rs` holds `template.yaml` to these lists (only declared
//! variables, every required one, each from its declared source); `bridgectl settings --json`
//! hands them to the emulator-stack check.

use super::{Fallback, Kind, Setting, Source, Unit, runtime::RUNTIME_SETTINGS};

/// One function's settings, as its start-up code reads them.
#[derive(Debug, Clone, Copy)]
pub struct FunctionSettings {
    /// The binary, and the `Function` dimension of its metrics.
    pub function: &'static str,
    /// The function's logical id in `template.yaml`.
    pub logical_id: &'static str,
    /// Its own settings first, then those it shares, then the runtime's.
    pub groups: &'static [&'static [&'static Setting]],
}

impl FunctionSettings {
    pub fn settings(&self) -> impl Iterator<Item = &'static Setting> + '_ {
        self.groups.iter().flat_map(|g| g.iter().copied())
    }

    pub fn get(&self, name: &str) -> Option<&'static Setting> {
        self.settings().find(|s| s.name == name)
    }
}

const ROTATION_SHARED: [&Setting; 7] = [
    &crate::service_cache::SERVICE_SECRET_PREFIX,
    &crate::service_cache::SECRET_REFRESH_MIN_INTERVAL_SECONDS,
    &crate::service_cache::PENDING_SECRET_MAX_AGE_SECONDS,
    &crate::ingest::config::SIGNATURE_TOLERANCE_SECONDS,
    &crate::ingest::config::NONCE_TABLE_NAME,
    &crate::send::config::SINCH_AUTH_URL,
    &crate::send::config::CONVERSATION_API_URL,
];

/// Every function and what it reads.
pub const FUNCTIONS: [FunctionSettings; 3] = [
    FunctionSettings {
        function: "webhook-ingest",
        logical_id: "WebhookIngestFunction",
        groups: &[
            &crate::ingest::config::SETTINGS,
            &crate::service_cache::CACHE_SETTINGS,
            &crate::service_cache::TRUST_SETTINGS,
            &RUNTIME_SETTINGS,
        ],
    },
    FunctionSettings {
        function: "sender",
        logical_id: "SenderFunction",
        groups: &[
            &crate::send::config::SETTINGS,
            &crate::service_cache::CACHE_SETTINGS,
            &RUNTIME_SETTINGS,
        ],
    },
    FunctionSettings {
        function: "secret-rotation",
        logical_id: "SecretRotationFunction",
        groups: &[&crate::setup::rotation::SETTINGS, &ROTATION_SHARED, &RUNTIME_SETTINGS],
    },
];

impl Setting {
    /// The default column: what applies when the variable is not set.
    pub fn default_text(&self) -> String {
        match self.fallback {
            Fallback::Required => "required".into(),
            Fallback::Absent => "none".into(),
            Fallback::Number(n) => group_digits(n),
            Fallback::Text(t) => format!("`{t}`"),
            Fallback::Derived(how) => how.into(),
        }
    }

    /// The bounds column: a number's range and unit, or what the value is.
    pub fn bounds_text(&self) -> String {
        match self.kind {
            Kind::Number { unit, min, max } => {
                let unit = match unit {
                    Unit::Seconds => "s",
                    Unit::Milliseconds => "ms",
                    Unit::Count => "",
                    Unit::Bytes => "bytes",
                };
                format!("{}–{} {unit}", group_digits(min), group_digits(max))
                    .trim_end()
                    .to_owned()
            }
            Kind::Text => "text".into(),
            Kind::ServiceNames => "service names".into(),
            Kind::Json => "JSON".into(),
            Kind::Level => "log level".into(),
        }
    }

    /// Where a deployed function's value comes from, for the reference.
    pub fn source_text(&self) -> String {
        match self.source {
            Source::Parameter(p) => format!("parameter `{p}`"),
            Source::Queue(q) => format!("`{q}` URL"),
            Source::Table(t) => format!("`{t}` name"),
            Source::WebhookBase => "`WebhookBaseUrl`".into(),
            Source::Literal(v) => format!("`{v}`"),
            Source::Lambda => "Lambda".into(),
            Source::Unset => "—".into(),
        }
    }
}

/// `1040384` as `1,040,384`, as the reference writes numbers.
fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The reference table of one function's settings, exactly as `docs/reference.md` holds it.
pub fn reference_table(function: &FunctionSettings) -> String {
    let mut out =
        String::from("| variable | default | bounds | template | meaning |\n| --- | --- | --- | --- | --- |\n");
    for s in function.settings() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            s.name,
            s.default_text(),
            s.bounds_text(),
            s.source_text(),
            s.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_function_declares_a_variable_twice() {
        for f in &FUNCTIONS {
            let mut names: Vec<&str> = f.settings().map(|s| s.name).collect();
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count, "{} declares a variable twice", f.function);
        }
    }

    #[test]
    fn every_numeric_default_lies_within_its_bounds() {
        for s in FUNCTIONS.iter().flat_map(FunctionSettings::settings) {
            if let (Kind::Number { min, max, .. }, Fallback::Number(n)) = (s.kind, s.fallback) {
                assert!(
                    (min..=max).contains(&n),
                    "{}: default {n} outside {min}..={max}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn numbers_are_written_with_thousands_separators() {
        assert_eq!(group_digits(1_040_384), "1,040,384");
        assert_eq!(group_digits(600), "600");
        assert_eq!(group_digits(86_400), "86,400");
    }
}
