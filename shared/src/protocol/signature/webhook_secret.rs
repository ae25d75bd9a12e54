//! A webhook secret with its HMAC key schedule done once, when the service is parsed.
//!
//! HMAC hashes the padded key into an inner and an outer SHA-256 state before it sees any
//! data. For a 1 KiB callback those two compressions are about a tenth of the work, so every
//! check clones the prepared states instead of keying a fresh MAC.

use std::fmt;

use super::{HmacSha256, keyed};
use crate::protocol::secret::SecretString;

#[derive(Clone)]
pub struct WebhookSecret {
    secret: SecretString,
    keyed: HmacSha256,
    fingerprint: std::sync::OnceLock<String>,
}

impl WebhookSecret {
    pub fn new(secret: SecretString) -> Self {
        let keyed = keyed(&secret);
        Self {
            secret,
            keyed,
            fingerprint: std::sync::OnceLock::new(),
        }
    }

    /// The secret as configured (for signing and for tests; never log it).
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    pub fn is_empty(&self) -> bool {
        self.secret.is_empty()
    }

    /// A MAC ready for data, keyed with this secret.
    pub(super) fn mac(&self) -> HmacSha256 {
        self.keyed.clone()
    }

    /// A short name for this secret that can be stored and logged: 16 hex characters of an
    /// HMAC keyed with it over a fixed label. It tells secrets apart without revealing them;
    /// like any function of a secret it can confirm a guess, so a weak secret stays weak (the
    /// generated ones are 32 random bytes).
    pub fn fingerprint(&self) -> &str {
        self.fingerprint.get_or_init(|| {
            use hmac::Mac as _;
            let mut mac = self.mac();
            mac.update(b"sinch-bridge/webhook-secret-fingerprint/v1");
            let digest = mac.finalize().into_bytes();
            digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
        })
    }
}

/// Two webhook secrets are the same when their configured values are.
impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.secret == other.secret
    }
}

impl Eq for WebhookSecret {}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> serde::Deserialize<'de> for WebhookSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        SecretString::deserialize(d).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_value() {
        let w = WebhookSecret::new(SecretString::new("hunter2"));
        assert_eq!(format!("{w:?}"), "[redacted]");
    }

    #[test]
    fn fingerprints_tell_secrets_apart_without_holding_them() {
        let a = WebhookSecret::new(SecretString::new("canary-secret-one"));
        let fp = a.fingerprint().to_owned();
        assert_eq!(fp.len(), 16);
        assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            fp,
            WebhookSecret::new(SecretString::new("canary-secret-one")).fingerprint()
        );
        assert_ne!(
            fp,
            WebhookSecret::new(SecretString::new("canary-secret-two")).fingerprint()
        );
        assert!(!fp.contains("canary"));
    }

    #[test]
    fn equal_when_the_configured_values_are() {
        let a = WebhookSecret::new(SecretString::new("one"));
        assert_eq!(a, WebhookSecret::new(SecretString::new("one")));
        assert_ne!(a, WebhookSecret::new(SecretString::new("two")));
    }
}
