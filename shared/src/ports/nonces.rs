//! The ingest's replay-protection ports: claiming and confirming nonces, and reading which
//! secret verified a service's callbacks (the sightings).

use std::future::Future;

use super::PortError;

/// A claim on a nonce, held while its event is being stored: only its holder can confirm or
/// release it, and it lapses on its own at the lease's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceClaim {
    pub token: String,
}

/// What claiming a nonce found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// Ours: store the event, then confirm (or release on failure).
    Claimed(NonceClaim),
    /// An event with this nonce was stored: a replay.
    Used,
    /// Another request with this nonce is being stored right now.
    InFlight,
}

/// What confirming a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmed {
    /// The nonce is marked used.
    Used,
    /// The claim lapsed before the confirmation and another request took the nonce: both
    /// stored the event (consumers deduplicate by `event_id`).
    Lapsed,
}

/// Remembers which nonces were used, so a signed request is stored at most once.
///
/// A nonce is claimed for a short lease before its event is stored and confirmed as used (until
/// its signature expires) after: a request whose storing failed, or whose environment died,
/// can be retried with the same headers once the claim is released or lapses.
pub trait NonceStore: Send + Sync {
    /// Claims `key` until `lease_until` unless it is used or claimed at `now`.
    fn claim(
        &self,
        key: &str,
        now: i64,
        lease_until: i64,
    ) -> impl Future<Output = Result<ClaimOutcome, PortError>> + Send;

    /// Marks a claimed nonce used until `used_until`.
    fn confirm(
        &self,
        key: &str,
        claim: &NonceClaim,
        used_until: i64,
    ) -> impl Future<Output = Result<Confirmed, PortError>> + Send;

    /// Gives a claim up (its event was not stored), so a retry need not wait for the lease.
    fn release(&self, key: &str, claim: &NonceClaim) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Adds `count` stored callbacks verified by the secret with this fingerprint, the last at
    /// `seen_at`. Only a store every environment shares keeps them (the nonce table); the
    /// default keeps nothing.
    fn record_sighting(
        &self,
        service: &str,
        fingerprint: &str,
        seen_at: i64,
        count: u64,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        let _ = (service, fingerprint, seen_at, count);
        std::future::ready(Ok(()))
    }
}

/// When a webhook secret verified stored callbacks of a service: what a rotation, the doctor
/// and an operator read to know what Sinch signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: u64,
}

/// Reads the sightings the ingest recorded.
pub trait SightingReader: Send + Sync {
    fn sighting(
        &self,
        service: &str,
        fingerprint: &str,
    ) -> impl Future<Output = Result<Option<Sighting>, PortError>> + Send;
}
