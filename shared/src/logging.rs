//! Log output for both functions: what `lambda_runtime`'s default subscriber writes (Lambda's
//! advanced logging controls: `AWS_LAMBDA_LOG_FORMAT=JSON` for JSON lines, the level from
//! `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO), with a plain level filter in place of
//! its per-target `EnvFilter`. That filter links a regex engine (about 0.3 MB) into each binary
//! for directives Lambda never sets; `RUST_LOG` here is read as one level.
//!
//! That level applies to the bridge's own crates. Every other crate (the AWS SDK, hyper,
//! rustls, the Lambda runtime) is capped at INFO whatever the level: at DEBUG and TRACE they
//! print request and response bodies (a `GetSecretValue` answer holds the webhook and key
//! secrets) and raw invocation events (with signature headers).

use std::str::FromStr;

use tracing::Subscriber;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::config::Lookup;

/// What [`init`] sets up, decided from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogSettings {
    pub level: LevelFilter,
    pub json: bool,
}

impl LogSettings {
    pub fn from_env(env: &impl Lookup) -> Self {
        use crate::config::runtime::{AWS_LAMBDA_LOG_FORMAT, AWS_LAMBDA_LOG_LEVEL, RUST_LOG};
        let level = AWS_LAMBDA_LOG_LEVEL
            .raw(env)
            .or_else(|| RUST_LOG.raw(env))
            .and_then(|v| LevelFilter::from_str(v.trim()).ok())
            .unwrap_or(LevelFilter::INFO);
        let json = AWS_LAMBDA_LOG_FORMAT
            .raw(env)
            .is_some_and(|f| f.eq_ignore_ascii_case("json"));
        Self { level, json }
    }
}

/// The crates whose logs follow the configured level; everything else is capped at INFO.
pub const OWN_CRATES: [&str; 4] = ["sinch_bridge", "webhook_ingest", "sender", "bridge_tools"];

/// Which events pass: ours at `level`, other crates' at `level` but never above INFO.
pub fn filter(level: LevelFilter) -> Targets {
    let capped = level.min(LevelFilter::INFO);
    OWN_CRATES
        .iter()
        .fold(Targets::new().with_default(capped), |t, c| t.with_target(*c, level))
}

/// The functions' subscriber writing to `writer` (stdout in Lambda; a buffer in tests).
pub fn subscriber<W>(settings: LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(settings.level)
        .with_writer(writer);
    if settings.json {
        Box::new(builder.json().finish().with(filter(settings.level)))
    } else {
        Box::new(builder.finish().with(filter(settings.level)))
    }
}

/// Installs the process-wide subscriber, writing to stdout. A second call changes nothing.
pub fn init(settings: LogSettings) {
    let _already_set = tracing::subscriber::set_global_default(subscriber(settings, std::io::stdout));
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
    fn other_crates_never_log_below_info_whatever_the_level() {
        use tracing::Level;
        use tracing::level_filters::LevelFilter as L;
        let f = filter(L::TRACE);
        let passes = |target: &str, level: Level| f.would_enable(target, &level);
        assert!(passes("sinch_bridge::ingest", Level::TRACE));
        assert!(passes("sender", Level::TRACE));
        assert!(passes("webhook_ingest", Level::DEBUG));
        for foreign in [
            "aws_smithy_runtime::client::orchestrator",
            "lambda_runtime",
            "hyper_util",
            "rustls",
        ] {
            assert!(!passes(foreign, Level::TRACE), "{foreign}");
            assert!(!passes(foreign, Level::DEBUG), "{foreign}");
            assert!(passes(foreign, Level::INFO), "{foreign}");
        }
        let quiet = filter(L::WARN);
        assert!(!quiet.would_enable("sinch_bridge", &Level::INFO));
        assert!(!quiet.would_enable("aws_smithy_runtime", &Level::INFO));
    }

    #[test]
    fn json_only_when_lambda_asks_for_it() {
        let json = |pairs: &[(&str, &str)]| LogSettings::from_env(&map_env(pairs)).json;
        assert!(!json(&[]));
        assert!(json(&[("AWS_LAMBDA_LOG_FORMAT", "JSON")]));
        assert!(!json(&[("AWS_LAMBDA_LOG_FORMAT", "Text")]));
    }
}
