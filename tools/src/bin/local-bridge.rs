//! local-bridge: the whole bridge on this machine against an AWS emulator. Started by
//! `scripts/local.sh`, which also runs moto; Ctrl-C stops everything.

use std::process::ExitCode;
use std::time::Duration;

use bridge_tools::local::{DEMO_APP_ID, DEMO_SERVICE, LocalConfig, start};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "local-bridge",
    about = "Run webhook-ingest, sender and a mock Conversation API locally"
)]
struct Args {
    /// AWS emulator (moto server) endpoint.
    #[arg(long, env = "BRIDGE_ENDPOINT_URL", default_value = "http://127.0.0.1:5055")]
    endpoint_url: String,
    #[arg(long, env = "BRIDGE_WEBHOOK_PORT", default_value_t = 3000)]
    webhook_port: u16,
    #[arg(long, env = "BRIDGE_MOCK_PORT", default_value_t = 3010)]
    mock_port: u16,
    /// Use standard queues instead of FIFO.
    #[arg(long)]
    standard_queues: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    let args = Args::parse();
    let config = LocalConfig {
        endpoint_url: args.endpoint_url.clone(),
        webhook_port: args.webhook_port,
        mock_port: args.mock_port,
        fifo: !args.standard_queues,
        show_function_output: true,
        ..LocalConfig::default()
    };
    let stack = match start(config).await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let e = &args.endpoint_url;
    println!(
        r#"
Sinch bridge running locally
  webhook-ingest      POST {webhook}{DEMO_SERVICE}   (service "{DEMO_SERVICE}", app {DEMO_APP_ID})
  mock Sinch          {mock}  (OAuth2, messages:send for eu/us/br, /_mock/requests, /_mock/faults)
  AWS emulator        {e}   (moto: template.yaml deployed as stack "local")
  functions           target/debug/webhook-ingest and target/debug/sender under a Lambda Runtime API emulator
  events queue        {events}
  outbound queue      {outbound}
  outbound DLQ        {dlq}

Try:
  {ctl} --endpoint-url {e} send --queue-url {outbound} --from {DEMO_APP_ID}@sms.sinchconversation.com --to +15551234567 --text "Hello"
  {ctl} --endpoint-url {e} events tail --queue-url {events} --delete
  {ctl} --endpoint-url {e} webhook send --url {webhook}{DEMO_SERVICE} --trigger MESSAGE_INBOUND
  curl -X POST {mock}/_mock/faults -H 'content-type: application/json' -d '{{"kind":"400","count":1}}'
  {ctl} --endpoint-url {e} dlq list --queue-url {dlq}
Ctrl-C stops everything."#,
        webhook = stack.webhook_url,
        mock = stack.mock_url,
        events = stack.queue("EventsQueue"),
        outbound = stack.queue("OutboundQueue"),
        dlq = stack.queue("OutboundDeadLetterQueue"),
        ctl = std::env::var("BRIDGECTL").unwrap_or_else(|_| "bridgectl".into()),
    );
    let _ = tokio::signal::ctrl_c().await;
    stack.stop();
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!("stopped");
    ExitCode::SUCCESS
}
