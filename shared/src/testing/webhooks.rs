//! Sinch's webhooks in memory, as inconvenient as the real API: secrets are shown back only in
//! [`ReadMode::Full`]; by default they are masked (`"***"`, as Sinch's reference shows for
//! listing webhooks), or left out. A target is unique per app (a second create of one is
//! refused with 400, as Sinch refuses it), and a create can be made to apply and then answer
//! 5xx (its answer lost), the case that makes a retried create fail unless it looks first.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::protocol::SecretString;
use crate::protocol::service::MessagingService;
use crate::setup::management::{ManagementError, Webhook};
use crate::setup::webhooks::WebhookAdmin;

/// How secrets are shown back on reads (and in create and update answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    Full,
    Masked,
    Absent,
}

impl ReadMode {
    pub const ALL: [ReadMode; 3] = [ReadMode::Full, ReadMode::Masked, ReadMode::Absent];
}

/// A PATCH received: the webhook's id and the update mask.
type Patch = (String, Vec<String>);

#[derive(Clone)]
pub struct MemoryWebhooks {
    hooks: Arc<Mutex<Vec<Webhook>>>,
    mode: Arc<Mutex<ReadMode>>,
    down: Arc<AtomicBool>,
    applied_then_failing: Arc<AtomicUsize>,
    next_id: Arc<AtomicUsize>,
    /// PATCHes received, as (webhook id, mask).
    patches: Arc<Mutex<Vec<Patch>>>,
}

impl MemoryWebhooks {
    pub fn new(mode: ReadMode) -> Self {
        Self {
            hooks: Arc::default(),
            mode: Arc::new(Mutex::new(mode)),
            down: Arc::default(),
            applied_then_failing: Arc::default(),
            next_id: Arc::default(),
            patches: Arc::default(),
        }
    }

    /// A webhook already at Sinch (another system's, or ours from before).
    pub fn seed(&self, app_id: &str, target: &str, secret: Option<&str>) -> String {
        let id = format!("wh-{}", self.next_id.fetch_add(1, Ordering::SeqCst) + 1);
        self.lock().push(Webhook {
            id: id.clone(),
            app_id: app_id.to_owned(),
            target: target.to_owned(),
            target_type: "HTTP".into(),
            secret: secret.map(SecretString::new),
            triggers: vec!["MESSAGE_DELIVERY".into(), "MESSAGE_INBOUND".into()],
        });
        id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Webhook>> {
        self.hooks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_mode(&self, mode: ReadMode) {
        *self.mode.lock().unwrap_or_else(PoisonError::into_inner) = mode;
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The next `count` creates are applied and then answered 500.
    pub fn fail_after_applying_creates(&self, count: usize) {
        self.applied_then_failing.store(count, Ordering::SeqCst);
    }

    /// The secret a webhook really holds (what Sinch signs with), for assertions.
    pub fn secret_of(&self, id: &str) -> Option<String> {
        self.lock()
            .iter()
            .find(|w| w.id == id)
            .and_then(|w| w.secret.as_ref().map(|s| s.expose().to_owned()))
    }

    /// Every webhook as Sinch holds it.
    pub fn all(&self) -> Vec<Webhook> {
        self.lock().clone()
    }

    pub fn patches(&self) -> Vec<Patch> {
        self.patches.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn shown(&self, webhook: &Webhook) -> Webhook {
        let mode = *self.mode.lock().unwrap_or_else(PoisonError::into_inner);
        let secret = match mode {
            ReadMode::Full => webhook.secret.clone(),
            ReadMode::Masked => webhook.secret.as_ref().map(|_| SecretString::new("***")),
            ReadMode::Absent => None,
        };
        Webhook {
            secret,
            ..webhook.clone()
        }
    }

    fn check(&self) -> Result<(), ManagementError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ManagementError::Transport(crate::ports::TransportError::Connect));
        }
        Ok(())
    }
}

fn refused(status: u16, message: &str) -> ManagementError {
    ManagementError::Refused {
        status,
        sinch_status: if status == 400 { "INVALID_ARGUMENT" } else { "INTERNAL" }.into(),
        message: message.into(),
    }
}

impl WebhookAdmin for MemoryWebhooks {
    async fn list(&self, _service: &MessagingService, app_id: &str) -> Result<Vec<Webhook>, ManagementError> {
        self.check()?;
        Ok(self
            .lock()
            .iter()
            .filter(|w| w.app_id == app_id)
            .map(|w| self.shown(w))
            .collect())
    }

    async fn create(&self, _service: &MessagingService, webhook: &Webhook) -> Result<Webhook, ManagementError> {
        self.check()?;
        let created = {
            let mut hooks = self.lock();
            if hooks
                .iter()
                .any(|w| w.app_id == webhook.app_id && crate::setup::sync::same_target(&w.target, &webhook.target))
            {
                return Err(refused(400, "A webhook with this target already exists for the app"));
            }
            let created = Webhook {
                id: format!("wh-{}", self.next_id.fetch_add(1, Ordering::SeqCst) + 1),
                ..webhook.clone()
            };
            hooks.push(created.clone());
            created
        };
        if self
            .applied_then_failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(refused(500, "internal error after the create was applied"));
        }
        Ok(self.shown(&created))
    }

    async fn update(
        &self,
        _service: &MessagingService,
        webhook: &Webhook,
        mask: &[&str],
    ) -> Result<Webhook, ManagementError> {
        self.check()?;
        self.patches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((webhook.id.clone(), mask.iter().map(|m| (*m).to_owned()).collect()));
        let mut hooks = self.lock();
        let Some(stored) = hooks.iter_mut().find(|w| w.id == webhook.id) else {
            return Err(ManagementError::NotFound);
        };
        for field in mask {
            match *field {
                "secret" => stored.secret = webhook.secret.clone(),
                "triggers" => stored.triggers = webhook.triggers.clone(),
                "target_type" => stored.target_type = webhook.target_type.clone(),
                "target" => stored.target = webhook.target.clone(),
                other => return Err(refused(400, &format!("Invalid update_mask path {other:?}"))),
            }
        }
        let updated = stored.clone();
        drop(hooks);
        Ok(self.shown(&updated))
    }
}
