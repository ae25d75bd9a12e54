//! Log output for both functions: what `lambda_runtime`'s default subscriber writes (Lambda's
//! advanced logging controls: `AWS_LAMBDA_LOG_FORMAT=JSON` for JSON lines, the level from
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO), with a plain level filter in place of
//! its per-target `EnvFilter`. That filter links a regex engine (about 0.3 MB) into each binary
//! for directives Lambda never sets; `RUST_LOG` here is read as one level.

use std::str::FromStr;

use tracing_subscriber::filter::LevelFilter;

use crate::config::Lookup;

/// What [`init`] sets up, decided from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    pub level: LevelFilter,
    pub json: bool,
}

impl LogSettings {
    pub fn from_env(env: &impl Lookup) -> Self {
        let level = env
            .get("AWS_LAMBDA_LOG_LEVEL")
            .or_else(|| env.get("RUST_LOG"))
            .and_then(|v| LevelFilter::from_str(v.trim()).ok())
            .unwrap_or(LevelFilter::INFO);
        let json = env
            .get("AWS_LAMBDA_LOG_FORMAT")
            .is_some_and(|f| f.eq_ignore_ascii_case("json"));
        Self { level, json }
    }
}

/// Installs the process-wide subscriber, writing to stdout. A second call changes nothing.
pub fn init(settings: LogSettings) {
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(settings.level)
        .with_writer(std::io::stdout);
    let _already_set = if settings.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::map_env;

    #[test]
    fn lambda_log_level_wins_over_rust_log_and_defaults_to_info() {
        let settings = |pairs: &[(&str, &str)]| LogSettings::from_env(&map_env(pairs)).level;
        assert_eq!(settings(&[]), LevelFilter::INFO);
        assert_eq!(settings(&[("RUST_LOG", "debug")]), LevelFilter::DEBUG);
        assert_eq!(
            settings(&[("RUST_LOG", "debug"), ("AWS_LAMBDA_LOG_LEVEL", "WARN")]),
            LevelFilter::WARN
        );
        // Per-target directives are not understood: the default holds.
        assert_eq!(settings(&[("RUST_LOG", "sender=trace,aws=warn")]), LevelFilter::INFO);
    }

    #[test]
    fn json_only_when_lambda_asks_for_it() {
        let json = |pairs: &[(&str, &str)]| LogSettings::from_env(&map_env(pairs)).json;
        assert!(!json(&[]));
        assert!(json(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]));
        assert!(!json(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]));
    }
}
