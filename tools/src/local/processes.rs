//! The function binaries as processes: each started under its own Lambda Runtime API emulator
//! with the stack's environment for it, the emulator's endpoint and credentials, and what the
//! loop adds; killed when the loop stops.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::deploy::Deployed;
use super::{LocalConfig, LocalError, listen};
use crate::runtime_api::RuntimeApi;

/// The function binaries the loop runs (the packages and binaries share their names).
pub const FUNCTIONS: [&str; 3] = ["webhook-ingest", "sender", "secret-rotation"];

/// The directory holding the function binaries: given, else beside this program (or one up,
/// for a test executable under `target/debug/deps`).
pub(super) fn bin_dir(config: &LocalConfig) -> Result<PathBuf, LocalError> {
    if let Some(dir) = &config.bin_dir {
        return Ok(dir.clone());
    }
    let exe = std::env::current_exe().map_err(|e| LocalError::Config(e.to_string()))?;
    let candidates = exe.ancestors().skip(1).take(2);
    for dir in candidates {
        if FUNCTIONS.iter().all(|f| dir.join(f).exists()) {
            return Ok(dir.to_path_buf());
        }
    }
    Err(LocalError::Config(format!(
        "the function binaries are not built: cargo build -p {}",
        FUNCTIONS.join(" -p ")
    )))
}

/// A function binary, started under its own Runtime API emulator with the stack's environment
/// for it, the emulator's endpoint and credentials, and `extra`.
pub(super) async fn start_function(
    config: &LocalConfig,
    binary: &Path,
    function: &Value,
    extra: &[(&str, String)],
) -> Result<Running, LocalError> {
    let listener = listen(0).await?;
    let api_addr = listener.local_addr().map_err(|e| LocalError::Config(e.to_string()))?;
    let name = function["name"].as_str().unwrap_or("function").to_owned();
    let timeout = Duration::from_secs(function["timeout"].as_u64().unwrap_or(30));
    let (api, task) = RuntimeApi::spawn(listener, &name, timeout);
    let mut command = tokio::process::Command::new(binary);
    command.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    for (key, value) in function["environment"].as_object().into_iter().flatten() {
        // moto hands numbers back as numbers.
        let value = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
        command.env(key, value);
    }
    command
        .env("AWS_ENDPOINT_URL", &config.endpoint_url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_LAMBDA_RUNTIME_API", api_addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", &name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "local");
    for (key, value) in extra {
        command.env(key, value);
    }
    let output = || {
        if config.show_function_output {
            Stdio::inherit()
        } else {
            Stdio::null()
        }
    };
    let child = command
        .stdout(output())
        .stderr(output())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| LocalError::Config(format!("cannot start {}: {e}", binary.display())))?;
    Ok(Running { api, task, child })
}

/// One function running: its Runtime API emulator, the emulator's task, the process.
pub(super) struct Running {
    pub api: RuntimeApi,
    task: tokio::task::JoinHandle<()>,
    child: tokio::process::Child,
}

/// The three functions of the stack, started.
pub(super) struct Functions {
    pub ingest: Running,
    pub sender: Running,
    pub rotation: Running,
    /// The stack's event source mappings of the sender (outbound and retry queues).
    pub sender_mappings: Vec<Value>,
}

impl Functions {
    pub(super) fn into_parts(self) -> (Vec<tokio::task::JoinHandle<()>>, Vec<tokio::process::Child>) {
        [self.ingest, self.sender, self.rotation]
            .into_iter()
            .map(|r| (r.task, r.child))
            .unzip()
    }
}

/// Starts the stack's three functions with their stack environment plus the loop's own
/// choices: the mock's endpoints, shorter retries and a 2 s forced-reload interval (so a
/// rotation's setSecret waits seconds, not half a minute).
pub(super) async fn start_all(
    config: &LocalConfig,
    deployed: &Deployed,
    mock_url: &str,
    webhook_url: &str,
) -> Result<Functions, LocalError> {
    let bins = bin_dir(config)?;
    let function = |id: &str| {
        deployed
            .functions
            .get(id)
            .cloned()
            .ok_or_else(|| LocalError::Deploy(format!("the stack has no {id}")))
    };
    let refresh = ("SECRET_REFRESH_MIN_INTERVAL_SECONDS", "2".to_owned());
    let auth = ("SINCH_AUTH_URL", format!("{mock_url}/oauth2/token"));
    let api = ("CONVERSATION_API_URL", mock_url.to_owned());
    let ingest_fn = function("WebhookIngestFunction")?;
    let ingest = start_function(
        config,
        &bins.join("webhook-ingest"),
        &ingest_fn,
        std::slice::from_ref(&refresh),
    )
    .await?;
    let sender_fn = function("SenderFunction")?;
    let sender_extra = [
        auth.clone(),
        api.clone(),
        ("RETRY_BASE_SECONDS", config.retry_base.as_secs().max(1).to_string()),
        ("RETRY_MAX_SECONDS", "60".to_owned()),
        ("SEND_TIMEOUT_MS", config.send_timeout.as_millis().to_string()),
    ];
    let sender = start_function(config, &bins.join("sender"), &sender_fn, &sender_extra).await?;
    let rotation_extra = [auth, api, ("WEBHOOK_BASE_URL", webhook_url.to_owned()), refresh];
    let rotation_fn = function("SecretRotationFunction")?;
    let rotation = start_function(config, &bins.join("secret-rotation"), &rotation_fn, &rotation_extra).await?;
    Ok(Functions {
        ingest,
        sender,
        rotation,
        sender_mappings: sender_fn["event_sources"].as_array().cloned().unwrap_or_default(),
    })
}
