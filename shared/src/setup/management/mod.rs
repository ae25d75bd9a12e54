//! Sinch's app and webhook management API for one service: apps (processing mode, channel
//! credentials) and webhooks (list, create, patch), on the service's regional host with its
//! access key, exactly as the sender reaches `messages:send` (same overrides, same OAuth2 token
//! cache). Request shapes follow the official spec (`management.yaml`); PATCH sends
//! `update_mask` as one comma-joined query value, as the current Node, Java 1.x and .NET SDKs do.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::ports::{HttpMethod, HttpReply, HttpRequest, SinchClient, TransportError};
use crate::protocol::region::{Region, project_url};
use crate::protocol::secret::SecretString;
use crate::protocol::service::{AuthMode, MessagingService};
use crate::send::token::{TokenCache, TokenError, basic_authorization};

/// An app as `GET /apps/{app}` answers it (the fields the bridge reads).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct App {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    /// `CONVERSATION` or `DISPATCH` (the spec's default when absent).
    #[serde(default = "dispatch")]
    pub processing_mode: String,
    #[serde(default)]
    pub channel_credentials: Vec<ChannelCredential>,
}

fn dispatch() -> String {
    "DISPATCH".into()
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ChannelCredential {
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub state: Option<ChannelState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ChannelState {
    /// `PENDING`, `ACTIVE` or `FAILING`.
    pub status: String,
}

impl ChannelCredential {
    pub fn status(&self) -> &str {
        self.state.as_ref().map_or("PENDING", |s| s.status.as_str())
    }
}

/// A webhook as Sinch stores it. `secret` is never printed (`SecretString`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct Webhook {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub app_id: String,
    pub target: String,
    /// `HTTP` or `DISMISS` (the spec's default: nothing is sent), so always sent explicitly.
    #[serde(default = "dismiss")]
    pub target_type: String,
    #[serde(default, with = "optional_secret", skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretString>,
    #[serde(default)]
    pub triggers: Vec<String>,
}

fn dismiss() -> String {
    "DISMISS".into()
}

mod optional_secret {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::protocol::secret::SecretString;

    pub fn serialize<S: Serializer>(value: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(secret) => s.serialize_str(secret.expose()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        Ok(raw.filter(|s| !s.is_empty()).map(SecretString::new))
    }
}

#[derive(Deserialize)]
struct AppList {
    #[serde(default)]
    apps: Vec<App>,
}

#[derive(Deserialize)]
struct WebhookList {
    #[serde(default)]
    webhooks: Vec<Webhook>,
}

/// Why a management call failed. `code()` is stable; nothing here holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagementError {
    #[error("not found (an app in another region or project also answers this)")]
    NotFound,
    #[error("the access key was refused ({0})")]
    AuthRejected(u16),
    #[error("Sinch answered {status} {sinch_status}: {message}")]
    Refused {
        status: u16,
        sinch_status: String,
        message: String,
    },
    #[error("Sinch did not answer: {0}")]
    Transport(TransportError),
    #[error("token endpoint: {0}")]
    Token(TokenError),
    #[error("unexpected answer: {0}")]
    Malformed(String),
}

impl ManagementError {
    /// The error as text with every occurrence of `secret` masked: Sinch's message about a
    /// request that carried a secret might quote it.
    pub fn redacted(&self, secret: &str) -> String {
        let text = self.to_string();
        if secret.is_empty() {
            return text;
        }
        text.replace(secret, "***")
    }

    pub fn code(&self) -> &'static str {
        match self {
            ManagementError::NotFound => "not_found",
            ManagementError::AuthRejected(_) => "auth_rejected",
            ManagementError::Refused { .. } => "refused",
            ManagementError::Transport(_) => "sinch_unavailable",
            ManagementError::Token(_) => "auth_unavailable",
            ManagementError::Malformed(_) => "malformed_answer",
        }
    }
}

/// Tries per management call when Sinch answers 429 or 5xx.
const MAX_ATTEMPTS: u32 = 3;

/// The management API of one service's project, on its region (or another, for diagnosis).
pub struct Management<'a, H> {
    http: &'a H,
    tokens: &'a TokenCache,
    base_override: Option<&'a str>,
    service: &'a MessagingService,
}

/// What a management client needs besides the service: shared so several services reuse one
/// token cache and connection pool.
pub struct ManagementEndpoints<H> {
    pub http: H,
    pub tokens: TokenCache,
    /// `CONVERSATION_API_URL`: replaces the regional hosts (tests, the local loop).
    pub base_override: Option<String>,
}

impl<H: SinchClient> ManagementEndpoints<H> {
    /// `auth_url` is `SINCH_AUTH_URL` (Sinch's real endpoint by default).
    pub fn new(http: H, auth_url: &str, base_override: Option<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            http,
            tokens: TokenCache::new(auth_url, clock),
            base_override,
        }
    }

    pub fn for_service<'a>(&'a self, service: &'a MessagingService) -> Management<'a, H> {
        Management {
            http: &self.http,
            tokens: &self.tokens,
            base_override: self.base_override.as_deref(),
            service,
        }
    }
}

impl<H: SinchClient> Management<'_, H> {
    pub async fn list_apps(&self) -> Result<Vec<App>, ManagementError> {
        let reply = self.call(self.service.region, HttpMethod::Get, "/apps", None).await?;
        Ok(parse::<AppList>(&reply)?.apps)
    }

    /// The app in the service's region; `Ok(None)` when Sinch says 404 there.
    pub async fn get_app(&self, app_id: &str) -> Result<Option<App>, ManagementError> {
        self.get_app_in(self.service.region, app_id).await
    }

    pub async fn get_app_in(&self, region: Region, app_id: &str) -> Result<Option<App>, ManagementError> {
        match self
            .call(region, HttpMethod::Get, &format!("/apps/{app_id}"), None)
            .await
        {
            Ok(reply) => parse(&reply).map(Some),
            Err(ManagementError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn list_webhooks(&self, app_id: &str) -> Result<Vec<Webhook>, ManagementError> {
        let reply = self
            .call(
                self.service.region,
                HttpMethod::Get,
                &format!("/apps/{app_id}/webhooks"),
                None,
            )
            .await?;
        Ok(parse::<WebhookList>(&reply)?.webhooks)
    }

    /// Creates a webhook, idempotently by target: after an answer that may hide an applied
    /// create (a 5xx, a 429, no answer at all), the app's webhooks are listed and one with this
    /// target is taken as the created one, instead of sending the create again (which Sinch
    /// refuses with a duplicate-target 400).
    pub async fn create_webhook(&self, webhook: &Webhook) -> Result<Webhook, ManagementError> {
        let body = serde_json::to_vec(webhook).map_err(|e| ManagementError::Malformed(e.to_string()))?;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let sent = self
                .call_with(
                    self.service.region,
                    HttpMethod::Post,
                    "/webhooks",
                    Some(body.clone()),
                    false,
                )
                .await;
            let unknown = match sent {
                Ok(reply) => return parse(&reply),
                Err(
                    e @ (ManagementError::Transport(_)
                    | ManagementError::Refused {
                        status: 429 | 500..=599,
                        ..
                    }),
                ) => e,
                Err(e) => return Err(e),
            };
            if let Some(created) = self
                .list_webhooks(&webhook.app_id)
                .await?
                .into_iter()
                .find(|w| crate::setup::sync::same_target(&w.target, &webhook.target))
            {
                return Ok(created);
            }
            if attempts >= MAX_ATTEMPTS {
                return Err(unknown);
            }
            tokio::time::sleep(std::time::Duration::from_secs(u64::from(attempts))).await;
        }
    }

    /// PATCHes the fields named in `mask` (`target` is always in the body: the spec requires it).
    pub async fn update_webhook(&self, webhook: &Webhook, mask: &[&str]) -> Result<Webhook, ManagementError> {
        // The id comes from Sinch's answer and goes into a URL path.
        if webhook.id.is_empty()
            || !webhook
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(ManagementError::Malformed("webhook id is not an id".into()));
        }
        let body = serde_json::to_vec(&Webhook {
            id: String::new(),
            app_id: String::new(),
            ..webhook.clone()
        })
        .map_err(|e| ManagementError::Malformed(e.to_string()))?;
        let path = format!("/webhooks/{}?update_mask={}", webhook.id, mask.join(","));
        let reply = self
            .call(self.service.region, HttpMethod::Patch, &path, Some(body))
            .await?;
        parse(&reply)
    }

    async fn authorization(&self) -> Result<SecretString, ManagementError> {
        match self.service.auth {
            AuthMode::Basic => Ok(basic_authorization(&self.service.key_id, &self.service.key_secret)),
            AuthMode::OAuth2 => self
                .tokens
                .bearer(self.http, &self.service.key_id, &self.service.key_secret)
                .await
                .map(|(token, _)| token)
                .map_err(|e| match e {
                    TokenError::Status(status @ (401 | 403)) => ManagementError::AuthRejected(status),
                    other => ManagementError::Token(other),
                }),
        }
    }

    async fn call(
        &self,
        region: Region,
        method: HttpMethod,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<HttpReply, ManagementError> {
        self.call_with(region, method, path, body, true).await
    }

    /// One management call; with `retry`, a 429 or 5xx is tried again a few times (only for
    /// calls that are safe to repeat: every one but a create).
    async fn call_with(
        &self,
        region: Region,
        method: HttpMethod,
        path: &str,
        body: Option<Vec<u8>>,
        retry: bool,
    ) -> Result<HttpReply, ManagementError> {
        let url = format!(
            "{}{path}",
            project_url(region, self.base_override, &self.service.project_id)
        );
        let mut retried = false;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let authorization = self.authorization().await?;
            let request = HttpRequest {
                method,
                url: url.clone(),
                authorization: authorization.clone(),
                content_type: "application/json",
                body: body.clone().unwrap_or_default(),
            };
            let reply = self.http.send(request).await.map_err(ManagementError::Transport)?;
            match reply.status {
                200..=299 => return Ok(reply),
                401 if !retried && self.service.auth == AuthMode::OAuth2 => {
                    // An expired or revoked token: fetch a new one once.
                    self.tokens.invalidate(&self.service.key_id, &authorization).await;
                    retried = true;
                }
                401 | 403 => return Err(ManagementError::AuthRejected(reply.status)),
                404 => return Err(ManagementError::NotFound),
                // Throttled or failing: a few tries with growing pauses (Retry-After when given,
                // capped), so one busy moment at Sinch does not fail a whole sync or rotation.
                429 | 500..=599 if retry && attempts < MAX_ATTEMPTS => {
                    let pause = reply.retry_after.unwrap_or(u64::from(attempts)).min(10);
                    tokio::time::sleep(std::time::Duration::from_secs(pause)).await;
                }
                status => return Err(refused(status, &reply.body)),
            }
        }
    }
}

/// Sinch's error body, wrapped (`{"error":{…}}`, what the API sends) or flat (the spec's
/// examples).
fn refused(status: u16, body: &[u8]) -> ManagementError {
    #[derive(Deserialize, Default)]
    struct Detail {
        #[serde(default)]
        message: String,
        #[serde(default)]
        status: String,
    }
    #[derive(Deserialize)]
    struct Wrapped {
        error: Detail,
    }
    let detail = serde_json::from_slice::<Wrapped>(body)
        .map(|w| w.error)
        .or_else(|_| serde_json::from_slice::<Detail>(body))
        .unwrap_or_default();
    ManagementError::Refused {
        status,
        sinch_status: detail.status,
        message: detail.message.chars().take(300).collect(),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(reply: &HttpReply) -> Result<T, ManagementError> {
    serde_json::from_slice(&reply.body).map_err(|e| ManagementError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests;
