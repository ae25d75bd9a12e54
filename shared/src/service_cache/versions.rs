//! What the cache knows of one service: its current version and the other versions a rotation
//! left, each with the deadline until which it may sign.

use std::sync::Arc;

use crate::ports::Stage;
use crate::protocol::service::MessagingService;
use crate::protocol::signature::WebhookSecret;

/// A version other than the current one, and until when (Unix seconds) it may sign.
#[derive(Debug, Clone)]
pub struct OtherVersion {
    pub service: Arc<MessagingService>,
    pub stage: Stage,
    pub until: i64,
}

/// The versions of one service known right now: the current one, and the pending and previous
/// ones a rotation left, each with its deadline.
#[derive(Debug, Clone)]
pub struct ServiceVersions {
    pub current: Arc<MessagingService>,
    pub(super) current_version: String,
    pub(super) current_created: Option<i64>,
    pub(super) others: Vec<OtherVersion>,
}

impl ServiceVersions {
    /// Only a current version (tests, tools).
    pub fn current_only(current: Arc<MessagingService>) -> Self {
        Self {
            current,
            current_version: String::new(),
            current_created: None,
            others: Vec::new(),
        }
    }

    /// The same, with other versions (tests).
    pub fn with_others(mut self, others: Vec<OtherVersion>) -> Self {
        self.others = others;
        self
    }

    pub fn others(&self) -> &[OtherVersion] {
        &self.others
    }

    /// Every webhook secret that may sign a callback from `app_id` at `now` (Unix seconds):
    /// current first, then the other versions still within their deadline, no repeats.
    pub fn webhook_secrets(&self, app_id: &str, now: i64) -> Vec<&WebhookSecret> {
        let mut out: Vec<&WebhookSecret> = Vec::with_capacity(1 + self.others.len());
        let live = self.others.iter().filter(|o| o.until > now).map(|o| &o.service);
        for service in std::iter::once(&self.current).chain(live) {
            if let Some(secret) = service.webhook_secret_for(app_id)
                && !out.contains(&secret)
            {
                out.push(secret);
            }
        }
        out
    }
}
