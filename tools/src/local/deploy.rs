//! Deploying `template.yaml` into the emulator: the SAM transform and moto's CloudFormation,
//! through `scripts/emulator-stack.py` (its Python environment is installed on first use by
//! `scripts/python-tools.sh`), and what the stack created, read back.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use super::demo::DEMO_SERVICE;
use super::{LocalConfig, LocalError, QueueUrls};

/// The repository's root (this crate is `tools/`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The stack as the emulator created it: queues by logical id, functions with their
/// environment and event sources.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub queues: QueueUrls,
    pub functions: HashMap<String, Value>,
}

/// Deploys `template.yaml` into the emulator with `scripts/emulator-stack.py` (the tools'
/// Python environment is installed on first use by `scripts/python-tools.sh`).
pub async fn deploy(config: &LocalConfig) -> Result<Deployed, LocalError> {
    let root = repo_root();
    let tools = tokio::process::Command::new("bash")
        .arg(root.join("scripts/python-tools.sh"))
        .stderr(Stdio::inherit())
        .output()
        .await
        .map_err(|e| LocalError::Deploy(format!("scripts/python-tools.sh: {e}")))?;
    let bin = String::from_utf8_lossy(&tools.stdout).trim().to_owned();
    let queue_type = if config.fifo { "fifo" } else { "standard" };
    let out = tokio::process::Command::new(Path::new(&bin).join("python"))
        .arg(root.join("scripts/emulator-stack.py"))
        .args([
            "deploy",
            "--endpoint",
            &config.endpoint_url,
            "--stack-name",
            &config.stack_name,
        ])
        .args([
            "--parameters".to_owned(),
            format!("ServiceNames={DEMO_SERVICE}"),
            format!("ServiceSecretPrefix={}", config.secret_prefix),
            format!("QueueType={queue_type}"),
            "EnableSentQueue=true".to_owned(),
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .await
        .map_err(|e| LocalError::Deploy(format!("scripts/emulator-stack.py: {e}")))?;
    let stack: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        LocalError::Deploy(format!(
            "no stack description: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default()
        ))
    })?;
    if stack["status"] != "CREATE_COMPLETE" {
        return Err(LocalError::Deploy(format!("{} {}", stack["status"], stack["reason"])));
    }
    let queues = stack["queues"]
        .as_object()
        .map(|q| {
            q.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let functions = stack["functions"]
        .as_object()
        .map(|f| f.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    Ok(Deployed { queues, functions })
}
