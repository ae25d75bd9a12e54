//! `bridgectl sign` and `bridgectl verify`.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use serde_json::json;
use sinch_bridge::protocol::sign as sign_body;
use sinch_bridge::protocol::signature::{self, SignatureHeaders, WebhookSecret};

use super::{CliError, Output, read_file};

#[derive(Args, Debug)]
pub struct SignArgs {
    /// File holding the webhook secret (- for standard input); else BRIDGE_WEBHOOK_SECRET.
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// File holding the exact body bytes.
    #[arg(long)]
    pub body_file: PathBuf,
    /// Nonce (default: a new ULID).
    #[arg(long)]
    pub nonce: Option<String>,
    /// Unix seconds (default: now).
    #[arg(long)]
    pub timestamp: Option<i64>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// File holding the webhook secret (- for standard input); else BRIDGE_WEBHOOK_SECRET.
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// Captured headers, one `Name: value` per line.
    #[arg(long)]
    pub headers_file: PathBuf,
    /// Captured body, exact bytes.
    #[arg(long)]
    pub body_file: PathBuf,
    /// Allowed clock difference in seconds; 0 turns the check off.
    #[arg(long, default_value_t = 600)]
    pub window: u64,
    /// Check against this Unix time instead of now (for old captures).
    #[arg(long)]
    pub now: Option<i64>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0)
}

pub fn sign(args: SignArgs, out: Output) -> Result<(), CliError> {
    let body = read_file(&args.body_file)?;
    let nonce = args.nonce.unwrap_or_else(crate::ulid::generate);
    let signed = sign_body(
        &super::secret_input::require_secret(
            args.secret_file.as_deref(),
            "BRIDGE_WEBHOOK_SECRET",
            "webhook secret",
            "--secret-file",
        )?,
        &body,
        &nonce,
        args.timestamp.unwrap_or_else(unix_now),
    );
    let pairs = signed.pairs();
    let text = pairs
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n");
    let value = json!(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect::<serde_json::Map<_, _>>()
    );
    out.emit(&text, &value);
    Ok(())
}

pub fn verify(args: VerifyArgs, out: Output) -> Result<(), CliError> {
    let body = read_file(&args.body_file)?;
    let raw = read_file(&args.headers_file)?;
    let text = String::from_utf8(raw).map_err(|_| CliError::new("headers file is not UTF-8"))?;
    let headers: Vec<(&str, &[u8])> = text
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim().as_bytes()))
        .collect();
    let secret = WebhookSecret::new(super::secret_input::require_secret(
        args.secret_file.as_deref(),
        "BRIDGE_WEBHOOK_SECRET",
        "webhook secret",
        "--secret-file",
    )?);
    let now = args.now.unwrap_or_else(unix_now);
    let result = SignatureHeaders::extract(headers.iter().copied())
        .and_then(|h| signature::verify(&h, &body, [&secret], now, args.window));
    match result {
        Ok(_) => {
            out.emit("valid: the signature matches", &json!({"valid": true}));
            Ok(())
        }
        Err(rejection) => {
            out.emit(
                &format!("invalid ({}): {rejection}", rejection.code()),
                &json!({"valid": false, "code": rejection.code(), "reason": rejection.to_string()}),
            );
            Err(CliError::new(format!("signature is not valid: {}", rejection.code())))
        }
    }
}
