//! AWS clients for the tools: the default credential chain and region, or an emulator
//! endpoint (`--endpoint-url`), in which case dummy credentials are fine.

use std::time::Duration;

pub async fn sdk_config(endpoint_url: Option<&str>, region: Option<&str>) -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(30))
        .build();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts);
    // The bridge's one HTTPS stack (the SDK's own client is not compiled in); should it fail to
    // build, the SDK reports the missing client on the first call.
    if let Ok(client) = sinch_bridge::adapters::https_client() {
        loader = loader.http_client(sinch_bridge::adapters::AwsHttpClient::new(client));
    }
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(endpoint) = endpoint_url {
        loader = loader.endpoint_url(endpoint);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            let creds = aws_sdk_sqs::config::Credentials::new("test", "test", None, None, "emulator");
            loader = loader.credentials_provider(creds);
        }
        if region.is_none()
            && std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(aws_config::Region::new("us-east-1"));
        }
    }
    loader.load().await
}
