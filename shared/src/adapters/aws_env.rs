//! AWS SDK configuration from what Lambda puts in a function's environment: the region, the
//! execution role's credentials and, for emulators, `AWS_ENDPOINT_URL`.
//!
//! Lambda always provides these, so the functions skip `aws-config`'s provider chains (profile
//! files, SSO, web identity, container and instance metadata), which cost start-up time and a
//! third SDK client (STS) in every binary. The operator tools still use `aws-config`.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

use super::aws_http::AwsHttpClient;
use super::https::HttpsClient;
use crate::config::runtime::{
    AWS_ACCESS_KEY_ID, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, AWS_REGION, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
    AWS_TIMEOUT_MS,
};
use crate::config::{ConfigError, Lookup};

/// Where and as whom the AWS clients call. `Debug` never prints the credentials.
#[derive(Debug, Clone)]
pub struct AwsSettings {
    pub region: String,
    pub credentials: Credentials,
    pub endpoint_url: Option<String>,
    /// Bounds one SDK call, retries included; each attempt gets half of it.
    pub operation_timeout: Duration,
}

impl AwsSettings {
    /// `AWS_REGION` (else `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// optional `AWS_SESSION_TOKEN` and `AWS_ENDPOINT_URL`, and `AWS_TIMEOUT_MS` (5000).
    pub fn from_env(env: &impl Lookup) -> Result<Self, ConfigError> {
        let operation_timeout = AWS_TIMEOUT_MS.duration(env)?;
        let region = AWS_REGION
            .raw(env)
            .or_else(|| AWS_DEFAULT_REGION.raw(env))
            .ok_or_else(|| ConfigError::new(AWS_REGION.name, "is required (Lambda sets it)"))?;
        let credentials = Credentials::new(
            AWS_ACCESS_KEY_ID.text(env)?,
            AWS_SECRET_ACCESS_KEY.text(env)?,
            AWS_SESSION_TOKEN.raw(env),
            None,
            "lambda-environment",
        );
        Ok(Self {
            region,
            credentials,
            endpoint_url: AWS_ENDPOINT_URL.raw(env),
            operation_timeout,
        })
    }
}

/// Stalled-stream protection wraps every body in a throughput monitor with timers of its own, to
/// cut a transfer that stalls for its grace period (20 s); where the attempt timeout cuts every
/// attempt as soon (the default: 2.5 s), it only costs CPU (BENCHMARKS.md, section 8: 1.5-2.6 %
/// per invocation), so it is on only for attempt timeouts longer than its grace period.
fn stall_detection(attempt_timeout: Duration) -> StalledStreamProtectionConfig {
    let enabled = StalledStreamProtectionConfig::enabled().build();
    if attempt_timeout <= enabled.grace_period() {
        StalledStreamProtectionConfig::disabled()
    } else {
        enabled
    }
}

/// The configuration both SDK clients are built from, sending through `http`.
pub fn sdk_config(settings: AwsSettings, http: HttpsClient) -> SdkConfig {
    let attempt_timeout = settings.operation_timeout / 2;
    let timeouts = TimeoutConfig::builder()
        .operation_attempt_timeout(attempt_timeout)
        .operation_timeout(settings.operation_timeout)
        .build();
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(settings.region))
        .credentials_provider(SharedCredentialsProvider::new(settings.credentials))
        .http_client(SharedHttpClient::new(AwsHttpClient::new(http)))
        .retry_config(RetryConfig::standard())
        .timeout_config(timeouts)
        .stalled_stream_protection(stall_detection(attempt_timeout))
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::new(SystemTimeSource::new()));
    if let Some(url) = settings.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::map_env;

    fn lambda_env() -> Vec<(&'static str, &'static str)> {
        vec![
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret-do-not-print"),
            ("AWS_SESSION_TOKEN", "token-do-not-print"),
        ]
    }

    #[test]
    fn reads_the_region_and_role_credentials_lambda_provides() {
        let settings = AwsSettings::from_env(&map_env(&lambda_env()));
        let Ok(settings) = settings else {
            panic!("a full Lambda environment is valid: {settings:?}")
        };
        assert_eq!(settings.region, "eu-west-1");
        assert_eq!(settings.credentials.access_key_id(), "AKIAEXAMPLE");
        assert_eq!(settings.credentials.secret_access_key(), "secret-do-not-print");
        assert_eq!(settings.credentials.session_token(), Some("token-do-not-print"));
        assert_eq!(settings.endpoint_url, None);
        assert_eq!(settings.operation_timeout, AWS_TIMEOUT_MS.default_duration());
        let mut env = lambda_env();
        env.push(("AWS_TIMEOUT_MS", "750"));
        let timeout = AwsSettings::from_env(&map_env(&env)).map(|s| s.operation_timeout);
        assert_eq!(timeout.ok(), Some(Duration::from_millis(750)));
    }

    #[test]
    fn falls_back_to_the_default_region_and_honours_an_endpoint_override() {
        let mut env = lambda_env();
        env.retain(|(k, _)| *k != "AWS_REGION");
        env.push(("AWS_DEFAULT_REGION", "us-east-1"));
        env.push(("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"));
        let settings = AwsSettings::from_env(&map_env(&env)).map(|s| (s.region, s.endpoint_url));
        assert_eq!(
            settings,
            Ok(("us-east-1".to_owned(), Some("http://127.0.0.1:5000".to_owned())))
        );
    }

    #[test]
    fn names_the_missing_variable() {
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let mut env = lambda_env();
            env.retain(|(k, _)| *k != missing);
            let err = AwsSettings::from_env(&map_env(&env)).map(|_| ());
            assert_eq!(err.map_err(|e| e.variable), Err(missing));
        }
    }

    #[test]
    fn every_attempt_is_bounded_by_the_attempt_timeout_not_stall_detection() {
        let settings = AwsSettings::from_env(&map_env(&lambda_env()));
        let Ok(settings) = settings else {
            panic!("a full Lambda environment is valid: {settings:?}")
        };
        let Ok(http) = crate::adapters::https_client() else {
            panic!("the TLS defaults are valid")
        };
        let config = sdk_config(settings, http.clone());
        let timeouts = config
            .timeout_config()
            .map(|t| (t.operation_attempt_timeout(), t.operation_timeout()));
        let default = AWS_TIMEOUT_MS.default_duration();
        assert_eq!(timeouts, Some((Some(default / 2), Some(default))));
        // The attempt timeout cuts a stalled transfer before the stall detector's grace period.
        let grace = StalledStreamProtectionConfig::enabled().build().grace_period();
        assert!(default / 2 < grace, "{default:?}");
        assert_eq!(config.stalled_stream_protection().map(|s| s.is_enabled()), Some(false));
        // From an attempt timeout of more than the grace period (20 s), a stall is the detector's.
        for (timeout_ms, detector) in [("40000", false), ("40002", true), ("60000", true)] {
            let mut env = lambda_env();
            env.push(("AWS_TIMEOUT_MS", timeout_ms));
            let Ok(settings) = AwsSettings::from_env(&map_env(&env)) else {
                panic!("{timeout_ms} is within the setting's bounds")
            };
            let config = sdk_config(settings, http.clone());
            let on = config.stalled_stream_protection().map(|s| s.is_enabled());
            assert_eq!(on, Some(detector), "AWS_TIMEOUT_MS={timeout_ms}");
        }
    }

    #[test]
    fn debug_output_never_holds_the_secret_key_or_token() {
        let settings = AwsSettings::from_env(&map_env(&lambda_env()));
        let text = format!("{settings:?}");
        assert!(!text.contains("secret-do-not-print"), "{text}");
        assert!(!text.contains("token-do-not-print"), "{text}");
    }
}
