//! Sinch webhook signatures: `base64(HMAC-SHA256(secret, body "." nonce "." timestamp))`.
//!
//! Owns the whole check a callback must pass before anything else looks at it: header
//! extraction (case-insensitive names, duplicates refused), the pinned algorithm, the timestamp
//! window against a caller-supplied clock, and a constant-time comparison against every candidate
//! secret (rotation). The body is streamed into the MAC as received: never copied, never
//! re-serialised. Scheme: Sinch's "Validating callbacks" documentation; the conformance test replays the
//! SDKs' signature vectors.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::secret::SecretString;

mod webhook_secret;
pub use webhook_secret::WebhookSecret;

pub const SIGNATURE_HEADER: &str = "x-sinch-webhook-signature";
pub const NONCE_HEADER: &str = "x-sinch-webhook-signature-nonce";
pub const TIMESTAMP_HEADER: &str = "x-sinch-webhook-signature-timestamp";
pub const ALGORITHM_HEADER: &str = "x-sinch-webhook-signature-algorithm";
/// The only algorithm Sinch documents ("For now it is set to HmacSHA256").
pub const ALGORITHM: &str = "HmacSHA256";

const SIGNATURE_BYTES: usize = 32;
const MAX_HEADER_VALUE: usize = 128;
/// Twelve digits of epoch seconds reach past the year 30000; anything longer is not a timestamp.
const MAX_TIMESTAMP_DIGITS: usize = 12;

type HmacSha256 = Hmac<Sha256>;

/// Why a request failed verification. [`Rejection::code`] is the stable, machine-readable form;
/// neither carries any header value, so both are safe to log and to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("header {0} given more than once")]
    DuplicateHeader(&'static str),
    #[error("header {0} is not printable ASCII")]
    MalformedHeader(&'static str),
    #[error("signature algorithm is not HmacSHA256")]
    UnsupportedAlgorithm,
    #[error("signature timestamp is not whole epoch seconds")]
    MalformedTimestamp,
    #[error("signature timestamp is older than the allowed window")]
    Stale,
    #[error("signature timestamp is further in the future than the allowed window")]
    Future,
    #[error("signature does not match")]
    Mismatch,
    #[error("no webhook secret is configured")]
    NoSecret,
}

impl Rejection {
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MissingHeader(_) => "missing_signature_header",
            Rejection::DuplicateHeader(_) => "duplicate_signature_header",
            Rejection::MalformedHeader(_) => "malformed_signature_header",
            Rejection::UnsupportedAlgorithm => "unsupported_algorithm",
            Rejection::MalformedTimestamp => "malformed_timestamp",
            Rejection::Stale => "stale_timestamp",
            Rejection::Future => "future_timestamp",
            Rejection::Mismatch => "signature_mismatch",
            Rejection::NoSecret => "no_secret",
        }
    }
}

/// The signature headers of one request, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureHeaders<'a> {
    pub signature: &'a str,
    pub nonce: &'a str,
    pub timestamp: &'a str,
    pub algorithm: Option<&'a str>,
}

impl<'a> SignatureHeaders<'a> {
    /// Picks the four headers out of any `(name, value)` list, names compared
    /// case-insensitively. A header given twice, or folded into one value with a comma (what
    /// API Gateway does with repeated headers), is refused: none of the values can hold a comma.
    pub fn extract<I>(headers: I) -> Result<Self, Rejection>
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        let mut found: [Option<&'a str>; 4] = [None; 4];
        for (name, value) in headers {
            let Some(slot) = slot_of(name) else {
                continue;
            };
            let which = HEADERS[slot];
            if found[slot].is_some() {
                return Err(Rejection::DuplicateHeader(which));
            }
            // Sinch's values are short (44-char signature, 26-char ULID nonce); a bound here
            // keeps the replay cache's memory bounded whatever a caller sends.
            // One pass for both checks: this runs on every signed request.
            let (mut outside, mut comma) = (false, false);
            for &b in value {
                outside |= !(0x20..0x7f).contains(&b);
                comma |= b == b',';
            }
            if outside || value.len() > MAX_HEADER_VALUE {
                return Err(Rejection::MalformedHeader(which));
            }
            if comma {
                return Err(Rejection::DuplicateHeader(which));
            }
            // Printable ASCII is UTF-8, so this cannot fail; the error arm keeps it total.
            found[slot] = Some(std::str::from_utf8(value).map_err(|_| Rejection::MalformedHeader(which))?);
        }
        let [signature, nonce, timestamp, algorithm] = found;
        Ok(Self {
            signature: signature.ok_or(Rejection::MissingHeader(SIGNATURE_HEADER))?,
            nonce: nonce.ok_or(Rejection::MissingHeader(NONCE_HEADER))?,
            timestamp: timestamp.ok_or(Rejection::MissingHeader(TIMESTAMP_HEADER))?,
            algorithm,
        })
    }

    /// True when the request carries none of the signature headers at all: an unsigned
    /// webhook, as Sinch sends when the webhook has no secret.
    pub fn absent<I>(headers: I) -> bool
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        !headers.into_iter().any(|(name, _)| slot_of(name).is_some())
    }
}

/// Which of [`HEADERS`] `name` is, compared case-insensitively. All four share the signature
/// header as a prefix, so every other header of a request costs one comparison. API Gateway
/// (HTTP API) lower-cases names, so an exact match is tried before the byte-wise folding one.
fn slot_of(name: &str) -> Option<usize> {
    let prefix = name.get(..SIGNATURE_HEADER.len())?;
    if prefix != SIGNATURE_HEADER && !prefix.eq_ignore_ascii_case(SIGNATURE_HEADER) {
        return None;
    }
    let rest = name.get(SIGNATURE_HEADER.len()..)?;
    HEADERS.iter().position(|h| {
        let suffix = &h[SIGNATURE_HEADER.len()..];
        suffix == rest || suffix.eq_ignore_ascii_case(rest)
    })
}

/// The four signature headers, lower-case.
pub const HEADERS: [&str; 4] = [SIGNATURE_HEADER, NONCE_HEADER, TIMESTAMP_HEADER, ALGORITHM_HEADER];

/// Parses the timestamp header: ASCII digits only (no sign, fraction or spaces).
pub fn parse_timestamp(value: &str) -> Result<i64, Rejection> {
    if value.is_empty() || value.len() > MAX_TIMESTAMP_DIGITS || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Rejection::MalformedTimestamp);
    }
    value.parse().map_err(|_| Rejection::MalformedTimestamp)
}

/// Verifies one request.
///
/// * `secrets`: every candidate (current, pending, previous, per-app override); empty ones are
///   skipped. On success returns the index of the secret that matched.
/// * `now`: Unix seconds from the caller's clock; `window_seconds` bounds `|now - timestamp|`
///   in both directions, `0` turns the check off.
///
/// Cheap checks run first so garbage costs no hashing; the MAC comparison is constant-time.
pub fn verify<'s, S>(
    headers: &SignatureHeaders<'_>,
    body: &[u8],
    secrets: S,
    now: i64,
    window_seconds: u64,
) -> Result<usize, Rejection>
where
    S: IntoIterator<Item = &'s WebhookSecret>,
{
    if let Some(algorithm) = headers.algorithm
        && algorithm != ALGORITHM
    {
        return Err(Rejection::UnsupportedAlgorithm);
    }
    let timestamp = parse_timestamp(headers.timestamp)?;
    if window_seconds > 0 {
        let window = i64::try_from(window_seconds).unwrap_or(i64::MAX);
        let age = now.saturating_sub(timestamp);
        if age > window {
            return Err(Rejection::Stale);
        }
        if age < window.saturating_neg() {
            return Err(Rejection::Future);
        }
    }
    let mut candidates = secrets.into_iter().filter(|s| !s.is_empty()).peekable();
    if candidates.peek().is_none() {
        return Err(Rejection::NoSecret);
    }
    // Strict standard base64 with padding: hex, unpadded, url-safe or whitespace-wrapped values
    // fail to decode, which is exactly the SDKs' exact-string comparison.
    let mut expected = [0u8; SIGNATURE_BYTES];
    match STANDARD.decode_slice(headers.signature, &mut expected) {
        Ok(SIGNATURE_BYTES) => {}
        _ => return Err(Rejection::Mismatch),
    }
    for (index, secret) in candidates.enumerate() {
        if mac(secret.mac(), body, headers.nonce, headers.timestamp)
            .verify_slice(&expected)
            .is_ok()
        {
            return Ok(index);
        }
    }
    Err(Rejection::Mismatch)
}

/// A MAC keyed with `secret`, ready for data.
fn keyed(secret: &SecretString) -> HmacSha256 {
    // HMAC accepts keys of any length, so this constructor cannot fail; the fallback only
    // keeps the function total.
    HmacSha256::new_from_slice(secret.expose().as_bytes()).unwrap_or_else(|_| HmacSha256::new(&Default::default()))
}

fn mac(mut mac: HmacSha256, body: &[u8], nonce: &str, timestamp: &str) -> HmacSha256 {
    mac.update(body);
    mac.update(b".");
    mac.update(nonce.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac
}

/// The four headers Sinch would send for `body`, for tests, the local mock and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub signature: String,
    pub nonce: String,
    pub timestamp: String,
}

impl SignedHeaders {
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            (SIGNATURE_HEADER, &self.signature),
            (NONCE_HEADER, &self.nonce),
            (TIMESTAMP_HEADER, &self.timestamp),
            (ALGORITHM_HEADER, ALGORITHM),
        ]
    }
}

/// Signs `body` the way Sinch does.
pub fn sign(secret: &SecretString, body: &[u8], nonce: &str, timestamp: i64) -> SignedHeaders {
    let timestamp = timestamp.to_string();
    let tag = mac(keyed(secret), body, nonce, &timestamp).finalize().into_bytes();
    SignedHeaders {
        signature: STANDARD.encode(tag),
        nonce: nonce.to_owned(),
        timestamp,
    }
}

#[cfg(test)]
mod tests;
