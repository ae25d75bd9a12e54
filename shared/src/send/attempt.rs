//! One attempt to send one record: parse the envelope, pick its messaging service, wait for a
//! slot in its app's pace (`app_pace.rs`), get an authorization, call `messages:send` (once more with a fresh token after a 401). Every
//! failure is turned into an [`Outcome`] by the conversions in `outcome.rs`. No send starts
//! that could not finish before the invocation's deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::app_pace::Slot;
use super::carried::Origin;
use super::outcome::{Outcome, ResolveError};
use super::token::basic_authorization;
use super::{OutboundRecord, Sender};
use crate::metrics::Metric;
use crate::ports::{HttpRequest, QueueControl, QueueWriter, SecretStore, SendState, SinchClient};
use crate::protocol::service::{AuthMode, MessagingService};
use crate::protocol::{EnvelopeError, OutboundMessage, SecretString, parse_outbound, region};
use crate::service_cache::ServiceCacheError;

/// The longest an invocation waits for an app's send slot; a record whose slot is further off
/// waits on its queue instead (Lambda bills the wait).
pub(super) const PACE_WAIT_MAX: Duration = Duration::from_secs(2);

/// Paces are per app of a service (two services may name apps alike only by accident).
pub(super) fn pace_key(service: &str, app_id: &str) -> String {
    format!("{service}/{app_id}")
}

/// What the log line and the sent record say about a message; never its content.
#[derive(Default)]
pub(super) struct Context {
    pub service: Option<String>,
    pub app_id: Option<String>,
    pub channel: Option<String>,
    pub correlation_id: Option<String>,
}

impl Context {
    /// `(service, app_id, channel, correlation_id)` for a log line, `-` for what is unknown.
    pub fn labels(&self) -> (&str, &str, &str, &str) {
        fn label(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or("-")
        }
        (
            label(&self.service),
            label(&self.app_id),
            label(&self.channel),
            label(&self.correlation_id),
        )
    }
}

impl<S, H, Q, P> Sender<S, H, Q, P>
where
    S: SecretStore,
    H: SinchClient,
    Q: QueueWriter + QueueControl,
    P: SendState,
{
    pub(super) async fn attempt(
        &self,
        origin: Origin,
        record: &OutboundRecord,
        ctx: &mut Context,
        deadline: Option<Instant>,
    ) -> Outcome {
        // The latest moment a send may start and still finish before the deadline.
        let last_start = deadline.and_then(|d| d.checked_sub(self.config.send_window()));
        let too_late = || last_start.is_some_and(|t| Instant::now() >= t);
        if too_late() {
            return Outcome::NotStarted;
        }
        let body = record.body.as_deref().unwrap_or_default();
        let message = match parse_outbound(body.as_bytes()) {
            Ok(m) => m,
            Err(e) => return Outcome::from(&e),
        };
        ctx.app_id = Some(message.app_id().to_owned());
        ctx.channel = message.channel().map(str::to_owned);
        ctx.correlation_id = message.correlation_id().map(str::to_owned);
        let service = match self.resolve_service(&message).await {
            Ok(service) => service,
            Err(e) => return Outcome::from(e),
        };
        ctx.service = Some(service.name.clone());
        // A service that failed moments ago is not tried again from the outbound queue: the
        // record goes to the retry queue at once.
        if origin == Origin::Main
            && self.config.retry_queue_url.is_some()
            && let Some((cause, http_status)) = self.circuits.open(&service.name)
        {
            return Outcome::skipped(cause, http_status);
        }
        if let Some(wait) = self.take_slot(&service.name, message.app_id(), last_start).await {
            return Outcome::Paced(wait);
        }
        let request = message.to_request(Some(&service));
        let body = match serde_json::to_vec(&request) {
            Ok(body) => body,
            Err(e) => {
                return Outcome::from(&EnvelopeError {
                    field: "(body)".into(),
                    problem: e.to_string(),
                });
            }
        };
        let url = region::send_url(
            service.region,
            self.config.api_base_override.as_deref(),
            &service.project_id,
        );
        self.send_request(&service, &url, &body, last_start).await
    }

    /// One `messages:send` with the service's credentials, and once more with a fresh token
    /// after a 401 (it may have been revoked or expired early).
    async fn send_request(
        &self,
        service: &MessagingService,
        url: &str,
        body: &[u8],
        last_start: Option<Instant>,
    ) -> Outcome {
        let mut refreshed = false;
        loop {
            let authorization = match self.authorization_before(service, last_start).await {
                Ok(a) => a,
                Err(outcome) => return outcome,
            };
            if last_start.is_some_and(|t| Instant::now() >= t) {
                return Outcome::NotStarted;
            }
            let request = HttpRequest {
                method: crate::ports::HttpMethod::Post,
                url: url.to_owned(),
                authorization: authorization.clone(),
                content_type: "application/json",
                body: body.to_vec(),
            };
            let reply = match self.http.send(request).await {
                Ok(reply) => reply,
                Err(e) => return Outcome::from(&e),
            };
            if reply.status == 401 && service.auth == AuthMode::OAuth2 && !refreshed {
                refreshed = true;
                self.tokens.invalidate(&service.key_id, &authorization).await;
                continue;
            }
            return Outcome::from(&reply);
        }
    }

    /// The service's authorization, given up on when it would eat into the time a send needs
    /// (a token fetch with its 429 backoff can take seconds).
    async fn authorization_before(
        &self,
        service: &MessagingService,
        last_start: Option<Instant>,
    ) -> Result<SecretString, Outcome> {
        let Some(t) = last_start else {
            return self.authorization(service).await;
        };
        match tokio::time::timeout_at(t.into(), self.authorization(service)).await {
            Ok(result) => result,
            // The token endpoint is too slow to leave time for a send: a failure of the
            // endpoint, retried with backoff and counted against the budget.
            Err(_) => Err(Outcome::from(&super::token::TokenError::Transport(
                crate::ports::TransportError::Timeout,
            ))),
        }
    }

    /// Waits for the app's next send slot when it comes soon (and before `last_start`); else
    /// how long until it comes.
    async fn take_slot(&self, service: &str, app_id: &str, last_start: Option<Instant>) -> Option<Duration> {
        if !self.config.pace_apps {
            return None;
        }
        let now = self.clock.now();
        let before_deadline = last_start.map_or(PACE_WAIT_MAX, |t| t.saturating_duration_since(Instant::now()));
        match self
            .paces
            .reserve(&pace_key(service, app_id), now, PACE_WAIT_MAX.min(before_deadline))
        {
            Slot::After(wait) if wait.is_zero() => None,
            Slot::After(wait) => {
                tokio::time::sleep(wait).await;
                None
            }
            Slot::Later(wait) => Some(wait),
        }
    }

    async fn authorization(&self, service: &MessagingService) -> Result<SecretString, Outcome> {
        match service.auth {
            AuthMode::Basic => Ok(basic_authorization(&service.key_id, &service.key_secret)),
            AuthMode::OAuth2 => {
                let (token, fetched) = self
                    .tokens
                    .bearer(&self.http, &service.key_id, &service.key_secret)
                    .await
                    .map_err(|e| Outcome::from(&e))?;
                if fetched {
                    self.metrics.count(Metric::TokenRefresh, &[]);
                }
                Ok(token)
            }
        }
    }

    /// The envelope's `service`, else the configured service that lists the app; with a single
    /// configured service that lists no apps at all, that service.
    async fn resolve_service(&self, message: &OutboundMessage) -> Result<Arc<MessagingService>, ResolveError> {
        if let Some(name) = message.service() {
            if !self.config.services.iter().any(|s| s == name) {
                return Err(ResolveError::NotConfigured);
            }
            return match self.service_cache.get(name).await {
                Ok(v) => Ok(v.current),
                Err(ServiceCacheError::NotFound) => Err(ResolveError::SecretMissing),
                Err(e) => Err(ResolveError::Cache(e)),
            };
        }
        let mut unavailable = None;
        for name in &self.config.services {
            match self.service_cache.get(name).await {
                Ok(v) if v.current.has_app(message.app_id()) => return Ok(v.current),
                Ok(v) if self.config.services.len() == 1 && v.current.apps.is_empty() => return Ok(v.current),
                Ok(_) | Err(ServiceCacheError::NotFound) => {}
                Err(e) => unavailable = Some(ResolveError::Cache(e)),
            }
        }
        Err(unavailable.unwrap_or(ResolveError::NoServiceListsApp))
    }
}
