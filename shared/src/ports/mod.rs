//! The I/O the use cases need, as small traits. Each has one real adapter in `adapters`
//! (behind the `aws` feature); tests bring their own doubles.

use std::future::Future;

use crate::protocol::SecretString;

mod nonces;
pub use nonces::{ClaimOutcome, Confirmed, NonceClaim, NonceStore, Sighting, SightingReader};

/// A Secrets Manager staging label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Current,
    Pending,
    Previous,
}

impl Stage {
    pub fn label(&self) -> &'static str {
        match self {
            Stage::Current => "AWSCURRENT",
            Stage::Pending => "AWSPENDING",
            Stage::Previous => "AWSPREVIOUS",
        }
    }
}

/// The [`PortError::code`] of a queue that refused a message for good (its content, its
/// policy, its key); anything else may succeed on a retry.
pub const QUEUE_REJECTED: &str = "queue_rejected";

/// An I/O failure of a port. `code` is stable; `detail` is for logs and never holds a secret,
/// a token or message content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct PortError {
    pub code: &'static str,
    pub detail: String,
}

impl PortError {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// One version of a secret, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretVersion {
    /// The secret string; `None` when the version holds only binary data.
    pub value: Option<SecretString>,
    pub version_id: String,
    /// When the version was created (Unix seconds); `None` when the store does not say.
    pub created: Option<i64>,
}

impl SecretVersion {
    /// A string version (tests and doubles).
    pub fn text(value: impl Into<String>, version_id: impl Into<String>, created: i64) -> Self {
        Self {
            value: Some(SecretString::new(value)),
            version_id: version_id.into(),
            created: Some(created),
        }
    }
}

/// Reads secrets.
pub trait SecretStore: Send + Sync {
    /// The version of secret `name` at `stage`; `Ok(None)` when the secret or that stage does
    /// not exist (a normal answer, not a failure).
    fn fetch(&self, name: &str, stage: Stage) -> impl Future<Output = Result<Option<SecretVersion>, PortError>> + Send;
}

/// A secret's versions as `DescribeSecret` lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretVersions {
    /// The secret's name (a `SecretId` may be its ARN).
    pub name: String,
    pub rotation_enabled: bool,
    /// Version id -> its staging labels.
    pub stages: Vec<(String, Vec<String>)>,
}

impl SecretVersions {
    /// The version holding `AWSPENDING`, when it is not also the current one: a rotation in
    /// progress (or one that stopped half-way).
    pub fn pending_rotation(&self) -> Option<&str> {
        self.version_at(Stage::Pending)
            .filter(|pending| self.version_at(Stage::Current) != Some(*pending))
    }

    /// The version holding `stage`.
    pub fn version_at(&self, stage: Stage) -> Option<&str> {
        self.stages
            .iter()
            .find(|(_, labels)| labels.iter().any(|l| l == stage.label()))
            .map(|(id, _)| id.as_str())
    }

    /// The labels of `version_id`; `None` when the secret has no such version.
    pub fn labels(&self, version_id: &str) -> Option<&[String]> {
        self.stages
            .iter()
            .find(|(id, _)| id == version_id)
            .map(|(_, l)| l.as_slice())
    }
}

/// Writes secret versions: what a Secrets Manager rotation function and the setup commands do.
pub trait SecretAdmin: Send + Sync {
    fn describe(&self, secret_id: &str) -> impl Future<Output = Result<SecretVersions, PortError>> + Send;

    /// The string value of one version and when it was created (Unix seconds); `Ok(None)`
    /// when it has no value (yet).
    #[allow(clippy::type_complexity)]
    fn value_of(
        &self,
        secret_id: &str,
        version_id: &str,
    ) -> impl Future<Output = Result<Option<(SecretString, Option<i64>)>, PortError>> + Send;

    /// Stores `value` as version `version_id` labelled `AWSPENDING` (idempotent per id).
    fn put_pending(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        rotation_token: Option<&str>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Stores `value` as a new version labelled `AWSCURRENT` (the store moves `AWSPREVIOUS` to
    /// the version that was current); returns the new version's id.
    fn put_current(
        &self,
        secret_id: &str,
        value: &SecretString,
    ) -> impl Future<Output = Result<String, PortError>> + Send;

    /// Takes `stage` off `version_id`.
    fn remove_label(
        &self,
        secret_id: &str,
        stage: Stage,
        version_id: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// One message for a queue: the body exactly as received, plus routing metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    pub queue_url: String,
    pub body: String,
    /// String attributes, at most 10 (SQS limit), none empty.
    pub attributes: Vec<(&'static str, String)>,
    /// FIFO only.
    pub group_id: Option<String>,
    /// FIFO only.
    pub dedup_id: Option<String>,
}

/// Stores messages durably. `Ok` means the queue has it.
pub trait QueueWriter: Send + Sync {
    fn put(&self, message: &QueueMessage) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Up to ten messages for one queue in one call, enqueued in the order given (the order
    /// of a FIFO group holds); one result per message. The default sends them one by one.
    fn put_batch(&self, messages: &[QueueMessage]) -> impl Future<Output = Vec<Result<(), PortError>>> + Send {
        async move {
            let mut results = Vec::with_capacity(messages.len());
            for m in messages {
                results.push(self.put(m).await);
            }
            results
        }
    }
}

/// True for FIFO queue URLs (`….fifo`).
pub fn is_fifo(queue_url: &str) -> bool {
    queue_url.ends_with(".fifo")
}

/// Controls received messages: the sender's retry delay, and deleting finished work at once.
pub trait QueueControl: Send + Sync {
    /// Deletes a finished message now, so a crash later in the batch cannot bring it back.
    fn delete(&self, queue_url: &str, receipt_handle: &str) -> impl Future<Output = Result<(), PortError>> + Send;

    fn change_visibility(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        seconds: u32,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The queue's redrive `maxReceiveCount`, `None` when it has no redrive policy.
    fn max_receives(&self, queue_url: &str) -> impl Future<Output = Result<Option<u32>, PortError>> + Send;

    /// Deletes up to ten messages of one queue in one call; the default deletes them one by one.
    /// `Err` when any was not deleted.
    fn delete_batch(
        &self,
        queue_url: &str,
        receipt_handles: &[String],
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        async move {
            let mut failure = None;
            for handle in receipt_handles {
                if let Err(e) = self.delete(queue_url, handle).await {
                    failure = Some(e);
                }
            }
            failure.map_or(Ok(()), Err)
        }
    }
}

/// What the sender keeps beyond one invocation, shared by every environment (the state table):
/// which FIFO groups have records waiting in the retry queue (a later record of such a group
/// must wait behind them), and which records an attempt may already have delivered.
pub trait SendState: Send + Sync {
    /// Whether this store exists: without it a FIFO record is never moved to the retry queue,
    /// as its group's order could not be kept.
    fn enabled(&self) -> bool {
        true
    }

    /// Of `groups`, those with records waiting in the retry queue (read strongly consistent).
    fn waiting(
        &self,
        groups: &[&str],
    ) -> impl Future<Output = Result<std::collections::HashSet<String>, PortError>> + Send;

    /// `count` more records of `group` wait in the retry queue; the entry lives until
    /// `expires_at` (Unix seconds) unless counted again.
    fn park(&self, group: &str, count: u32, expires_at: i64) -> impl Future<Output = Result<(), PortError>> + Send;

    /// `count` records of `group` left the retry queue (sent, dead-lettered, or not moved).
    fn release(&self, group: &str, count: u32) -> impl Future<Output = Result<(), PortError>> + Send;

    /// An attempt at `record_id` may have reached Sinch (it timed out, or its answer broke off).
    fn note_maybe_sent(&self, record_id: &str, expires_at: i64) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Whether any attempt at `record_id` may have reached Sinch.
    fn maybe_sent(&self, record_id: &str) -> impl Future<Output = Result<bool, PortError>> + Send;
}

/// No state table: nothing waits, nothing is remembered.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSendState;

impl SendState for NoSendState {
    fn enabled(&self) -> bool {
        false
    }
    async fn waiting(&self, _groups: &[&str]) -> Result<std::collections::HashSet<String>, PortError> {
        Ok(std::collections::HashSet::new())
    }
    async fn park(&self, _group: &str, _count: u32, _expires_at: i64) -> Result<(), PortError> {
        Ok(())
    }
    async fn release(&self, _group: &str, _count: u32) -> Result<(), PortError> {
        Ok(())
    }
    async fn note_maybe_sent(&self, _record_id: &str, _expires_at: i64) -> Result<(), PortError> {
        Ok(())
    }
    async fn maybe_sent(&self, _record_id: &str) -> Result<bool, PortError> {
        Ok(false)
    }
}

/// The methods the bridge uses with Sinch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Patch,
    Delete,
}

/// One HTTPS request to Sinch (token endpoint, Conversation API, app and webhook management).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: HttpMethod,
    pub url: String,
    /// The whole `Authorization` header value (`Bearer …` or `Basic …`).
    pub authorization: SecretString,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// Sinch's answer, whatever the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    /// `Retry-After` in whole seconds, when given.
    pub retry_after: Option<u64>,
    pub body: Vec<u8>,
    /// False when the body broke off after the status arrived (`body` holds what came).
    pub complete: bool,
}

/// No answer at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("timed out")]
    Timeout,
    #[error("connection failed")]
    Connect,
    #[error("transport error: {0}")]
    Other(String),
}

impl TransportError {
    pub fn code(&self) -> &'static str {
        match self {
            TransportError::Timeout => "timeout",
            TransportError::Connect => "connection_error",
            TransportError::Other(_) => "transport_error",
        }
    }
}

/// Sends requests to Sinch over HTTPS with connection reuse.
pub trait SinchClient: Send + Sync {
    fn send(&self, request: HttpRequest) -> impl Future<Output = Result<HttpReply, TransportError>> + Send;
}
