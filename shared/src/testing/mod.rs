//! In-memory doubles for the ports, for unit tests in this crate and its dependents'
//! tests (feature `testing`). Never used by the functions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::Clock;
use crate::ports::{HttpReply, HttpRequest, PortError, SecretStore, SecretVersion, SinchClient, Stage, TransportError};

/// When [`MemorySecrets::put`] says its versions were created: the start of [`ManualClock`]s
/// in the unit tests.
pub const CREATED: i64 = 1_700_000_000;

/// A secret store in memory that counts fetches and can be switched off.
#[derive(Default, Clone)]
pub struct MemorySecrets {
    values: Arc<Mutex<HashMap<(String, Stage), SecretVersion>>>,
    pub fetches: Arc<AtomicUsize>,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl MemorySecrets {
    /// A string version created at [`CREATED`]; the same value keeps the same version id, so
    /// moving a value between stages looks like Secrets Manager moving a label.
    pub fn put(&self, name: &str, stage: Stage, value: &str) {
        let id = crate::protocol::callback::hex_sha256(value.as_bytes());
        self.put_version(name, stage, SecretVersion::text(value, &id[..16], CREATED));
    }
    pub fn put_version(&self, name: &str, stage: Stage, version: SecretVersion) {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((name.to_owned(), stage), version);
    }
    pub fn remove(&self, name: &str, stage: Stage) {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(name.to_owned(), stage));
    }
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    pub fn fetch_count(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl SecretStore for MemorySecrets {
    async fn fetch(&self, name: &str, stage: Stage) -> Result<Option<SecretVersion>, PortError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(PortError::new("secrets_unavailable", "switched off"));
        }
        let values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(values.get(&(name.to_owned(), stage)).cloned())
    }
}

type Responder = dyn Fn(&HttpRequest, usize) -> Result<HttpReply, TransportError> + Send + Sync;

/// An HTTP double: records every request and answers with a closure of (request, index).
#[derive(Clone)]
pub struct FakeSinch {
    pub requests: Arc<Mutex<Vec<HttpRequest>>>,
    responder: Arc<Responder>,
    /// How long each answer takes.
    delay: Duration,
}

impl FakeSinch {
    pub fn new(
        responder: impl Fn(&HttpRequest, usize) -> Result<HttpReply, TransportError> + Send + Sync + 'static,
    ) -> Self {
        Self {
            requests: Arc::default(),
            responder: Arc::new(responder),
            delay: Duration::ZERO,
        }
    }
    /// Every answer takes `delay` (a slow Sinch, within the caller's timeout).
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    pub fn recorded(&self) -> Vec<HttpRequest> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl SinchClient for FakeSinch {
    async fn send(&self, request: HttpRequest) -> Result<HttpReply, TransportError> {
        let index = {
            let mut list = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            list.push(request.clone());
            list.len() - 1
        };
        // Let concurrent callers interleave, as a real network would.
        tokio::task::yield_now().await;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        (self.responder)(&request, index)
    }
}

/// A JSON reply.
pub fn reply(status: u16, body: &str) -> Result<HttpReply, TransportError> {
    Ok(HttpReply {
        status,
        retry_after: None,
        body: body.as_bytes().to_vec(),
        complete: true,
    })
}

/// A clock tests move by hand.
pub struct ManualClock {
    start: Instant,
    offset: Mutex<Duration>,
    unix_start: i64,
}

impl ManualClock {
    pub fn new(unix_start: i64) -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
            unix_start,
        })
    }
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
    fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Clock for ManualClock {
    fn unix_seconds(&self) -> i64 {
        self.unix_start + i64::try_from(self.elapsed().as_secs()).unwrap_or(0)
    }
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
    fn unix_millis(&self) -> i64 {
        self.unix_start.saturating_mul(1000) + i64::try_from(self.elapsed().as_millis()).unwrap_or(0)
    }
}

/// The per-environment nonce store with switches: the whole store down, or only `confirm`
/// failing (the table lost between the enqueue and the confirmation).
#[derive(Clone)]
pub struct SwitchableNonces {
    pub inner: Arc<crate::ingest::InstanceNonces>,
    down: Arc<std::sync::atomic::AtomicBool>,
    confirm_down: Arc<std::sync::atomic::AtomicBool>,
    claims_lapse: Arc<std::sync::atomic::AtomicBool>,
}

impl Default for SwitchableNonces {
    fn default() -> Self {
        Self {
            inner: Arc::new(crate::ingest::InstanceNonces::new(1000)),
            down: Arc::default(),
            confirm_down: Arc::default(),
            claims_lapse: Arc::default(),
        }
    }
}

impl SwitchableNonces {
    /// Every confirmation finds its claim lapsed and taken over (what the table answers when
    /// a stalled request's lease ran out and a retry of it claimed the nonce).
    pub fn set_claims_lapse(&self, lapse: bool) {
        self.claims_lapse.store(lapse, Ordering::SeqCst);
    }
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    pub fn set_confirm_down(&self, down: bool) {
        self.confirm_down.store(down, Ordering::SeqCst);
    }
    fn check(&self, flag: &std::sync::atomic::AtomicBool) -> Result<(), PortError> {
        if flag.load(Ordering::SeqCst) {
            return Err(PortError::new("nonce_store_unavailable", "switched off"));
        }
        Ok(())
    }
}

impl crate::ports::NonceStore for SwitchableNonces {
    async fn claim(&self, key: &str, now: i64, lease_until: i64) -> Result<crate::ports::ClaimOutcome, PortError> {
        self.check(&self.down)?;
        self.inner.claim(key, now, lease_until).await
    }
    async fn confirm(
        &self,
        key: &str,
        claim: &crate::ports::NonceClaim,
        used_until: i64,
    ) -> Result<crate::ports::Confirmed, PortError> {
        self.check(&self.down)?;
        self.check(&self.confirm_down)?;
        let confirmed = self.inner.confirm(key, claim, used_until).await?;
        if self.claims_lapse.load(Ordering::SeqCst) {
            return Ok(crate::ports::Confirmed::Lapsed);
        }
        Ok(confirmed)
    }
    async fn release(&self, key: &str, claim: &crate::ports::NonceClaim) -> Result<(), PortError> {
        self.check(&self.down)?;
        self.inner.release(key, claim).await
    }
}

mod queues;
mod secret_admin;
mod send_state;
mod webhooks;

pub use queues::MemoryQueues;
pub use secret_admin::MemorySecretAdmin;
pub use send_state::MemorySendState;
pub use webhooks::{MemoryWebhooks, ReadMode};

/// Sightings in memory: what the ingest records (as a nonce store that keeps them) and what
/// the rotation and the doctor read.
#[derive(Clone, Default)]
pub struct MemorySightings {
    seen: Arc<Mutex<HashMap<(String, String), crate::ports::Sighting>>>,
}

impl MemorySightings {
    fn record(&self, service: &str, fingerprint: &str, seen_at: i64, count: u64) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = seen
            .entry((service.to_owned(), fingerprint.to_owned()))
            .or_insert(crate::ports::Sighting {
                first_seen: seen_at,
                last_seen: seen_at,
                count: 0,
            });
        entry.last_seen = seen_at;
        entry.count += count;
    }
}

impl crate::ports::SightingReader for MemorySightings {
    async fn sighting(&self, service: &str, fingerprint: &str) -> Result<Option<crate::ports::Sighting>, PortError> {
        Ok(self
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(service.to_owned(), fingerprint.to_owned()))
            .copied())
    }
}

/// The per-environment nonce store that also keeps sightings, as the table does.
#[derive(Clone)]
pub struct SightingNonces {
    pub inner: Arc<crate::ingest::InstanceNonces>,
    pub sightings: MemorySightings,
}

impl SightingNonces {
    pub fn new(sightings: MemorySightings) -> Self {
        Self {
            inner: Arc::new(crate::ingest::InstanceNonces::new(1000)),
            sightings,
        }
    }
}

impl crate::ports::NonceStore for SightingNonces {
    async fn claim(&self, key: &str, now: i64, lease_until: i64) -> Result<crate::ports::ClaimOutcome, PortError> {
        self.inner.claim(key, now, lease_until).await
    }
    async fn confirm(
        &self,
        key: &str,
        claim: &crate::ports::NonceClaim,
        used_until: i64,
    ) -> Result<crate::ports::Confirmed, PortError> {
        self.inner.confirm(key, claim, used_until).await
    }
    async fn release(&self, key: &str, claim: &crate::ports::NonceClaim) -> Result<(), PortError> {
        self.inner.release(key, claim).await
    }
    async fn record_sighting(
        &self,
        service: &str,
        fingerprint: &str,
        seen_at: i64,
        count: u64,
    ) -> Result<(), PortError> {
        self.sightings.record(service, fingerprint, seen_at, count);
        Ok(())
    }
}
