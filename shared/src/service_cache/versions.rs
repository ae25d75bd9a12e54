//! What the cache knows of one service, and which webhook secrets may sign a callback now:
//! the current version's (its app overrides, its service secret, and the secrets a rotation
//! retired, each until the end of its grace as the version itself says), and the pending
//! version's while a rotation is in progress, until its maximum age. `AWSPREVIOUS` is not
//! trusted: any edit of the service makes the version before it "previous", so its label says
//! nothing about when Sinch stopped signing with a secret (ARCHITECTURE.md, "Secrets").

use std::sync::Arc;

use crate::codes::codes;
use crate::protocol::service::MessagingService;
use crate::protocol::signature::WebhookSecret;

codes! {
    /// Which secret verified a callback (the `Secret` dimension of `WebhookAccepted`).
    SecretKind {
        /// The current version's service secret.
        Current => "current",
        /// The current version's override for the callback's app.
        App => "app",
        /// A secret a rotation retired, within its grace.
        Retired => "retired",
        /// The `AWSPENDING` version's, while a rotation is in progress.
        Pending => "pending",
    }
}

/// The `AWSPENDING` version of a rotation in progress, and until when (Unix seconds) it may
/// sign: its creation plus the pending version's maximum age.
#[derive(Debug, Clone)]
pub struct PendingVersion {
    pub service: Arc<MessagingService>,
    pub until: i64,
}

/// A secret that may sign a callback, and which one it is.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub kind: SecretKind,
    pub secret: &'a WebhookSecret,
}

/// The versions of one service known right now.
#[derive(Debug, Clone)]
pub struct ServiceVersions {
    pub current: Arc<MessagingService>,
    pub(super) current_version: String,
    pub(super) current_created: Option<i64>,
    pub(super) pending: Option<PendingVersion>,
}

impl ServiceVersions {
    /// Only a current version (tests, tools).
    pub fn current_only(current: Arc<MessagingService>) -> Self {
        Self {
            current,
            current_version: String::new(),
            current_created: None,
            pending: None,
        }
    }

    /// The same, with a pending version (tests).
    pub fn with_pending(mut self, pending: PendingVersion) -> Self {
        self.pending = Some(pending);
        self
    }

    pub fn pending(&self) -> Option<&PendingVersion> {
        self.pending.as_ref()
    }

    /// Every webhook secret that may sign a callback from `app_id` at `now` (Unix seconds),
    /// current first, no repeats.
    pub fn webhook_secrets(&self, app_id: &str, now: i64) -> Vec<Candidate<'_>> {
        fn push<'a>(out: &mut Vec<Candidate<'a>>, kind: SecretKind, secret: &'a WebhookSecret) {
            if !out.iter().any(|c| c.secret == secret) {
                out.push(Candidate { kind, secret });
            }
        }
        let mut out: Vec<Candidate<'_>> = Vec::with_capacity(2);
        let current = &self.current;
        match current.apps.get(app_id).and_then(|a| a.webhook_secret.as_ref()) {
            // An app with its own secret is not rotated: the service's retired ones never
            // signed its callbacks.
            Some(own) => push(&mut out, SecretKind::App, own),
            None => {
                if let Some(secret) = &current.webhook_secret {
                    push(&mut out, SecretKind::Current, secret);
                }
                for retired in current.retired.iter().filter(|r| r.until > now) {
                    push(&mut out, SecretKind::Retired, &retired.secret);
                }
            }
        }
        if let Some(pending) = self.pending.as_ref().filter(|p| p.until > now)
            && let Some(secret) = pending.service.webhook_secret_for(app_id)
        {
            push(&mut out, SecretKind::Pending, secret);
        }
        out
    }
}
