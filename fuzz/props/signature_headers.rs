//! Properties of signature-header extraction and verification
//! (`shared/src/protocol/signature/mod.rs`), for any input bytes. Shared by the fuzz target
//! `signature_headers` and the regression replay in `shared/tests/fuzz_regressions.rs`.
//!
//! Input layout (every part optional; a short input just yields fewer headers):
//!
//! * byte 0: bits 0-2 = number of headers (0-7); bit 3 = replace the signature header's value
//!   with the real signature of the body (so the verifier's success path is reached); bit 4 =
//!   `now` is the timestamp header plus an offset (else 1 700 000 000); bits 5-7 = `k`, the
//!   offset `(k - 4) * 150` s, and `k == 7` turns the window off (else 300 s);
//! * per header: a tag byte, then for tags 5 and 6 a name chunk, then a value chunk; a chunk is
//!   a length byte and that many bytes. Tag % 8: 0-3 = the four signature header names in
//!   lower case, 4 = one of them upper-cased, 5 = the name chunk (skipped unless UTF-8),
//!   6 = `x-sinch-webhook-signature` + the name chunk, 7 = `content-type`;
//! * the body: every byte after the headers.

use sinch_bridge::protocol::signature::{ALGORITHM, HEADERS, SIGNATURE_HEADER};
use sinch_bridge::protocol::{Rejection, SecretString, SignatureHeaders, WebhookSecret, sign, verify};

pub const SECRET: &str = "fuzz-webhook-secret";
const OTHER_SECRET: &str = "another-webhook-secret";
const FIXED_NOW: i64 = 1_700_000_000;
const WINDOW: u64 = 300;

/// Panics when a property does not hold for `data`.
pub fn check(data: &[u8]) {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(first & 7);
    let sign_it = first & 0x08 != 0;
    let relative_now = first & 0x10 != 0;
    let k = i64::from(first >> 5);

    let mut names: Vec<String> = Vec::new();
    let mut values: Vec<&[u8]> = Vec::new();
    for _ in 0..count {
        let Some((&tag, after)) = rest.split_first() else {
            break;
        };
        rest = after;
        let name = match tag % 8 {
            slot @ 0..=3 => Some(HEADERS[usize::from(slot)].to_owned()),
            4 => Some(HEADERS[usize::from(tag >> 3) % 4].to_ascii_uppercase()),
            5 => std::str::from_utf8(chunk(&mut rest)).ok().map(str::to_owned),
            6 => std::str::from_utf8(chunk(&mut rest))
                .ok()
                .map(|suffix| format!("{SIGNATURE_HEADER}{suffix}")),
            _ => Some("content-type".to_owned()),
        };
        let value = chunk(&mut rest);
        if let Some(name) = name {
            names.push(name);
            values.push(value);
        }
    }
    let body = rest;
    let headers: Vec<(&str, &[u8])> = names.iter().map(String::as_str).zip(values.iter().copied()).collect();

    let absent = SignatureHeaders::absent(headers.iter().copied());
    let extracted = SignatureHeaders::extract(headers.iter().copied());
    check_extraction(&headers, absent, &extracted);
    let Ok(extracted) = extracted else {
        return;
    };

    // Sign the body for real when asked (and the timestamp is one `sign` can produce).
    let secret_string = SecretString::new(SECRET);
    let signed = canonical_timestamp(extracted.timestamp)
        .filter(|_| sign_it)
        .map(|ts| sign(&secret_string, body, extracted.nonce, ts));
    let headers: Vec<(&str, &[u8])> = match &signed {
        Some(s) => headers
            .iter()
            .map(|&(n, v)| {
                if n.eq_ignore_ascii_case(SIGNATURE_HEADER) {
                    (n, s.signature.as_bytes())
                } else {
                    (n, v)
                }
            })
            .collect(),
        None => headers,
    };
    let h = match SignatureHeaders::extract(headers.iter().copied()) {
        Ok(h) => h,
        Err(e) => panic!("a real signature made valid headers invalid: {e:?}"),
    };
    assert_eq!(
        (h.nonce, h.timestamp, h.algorithm),
        (extracted.nonce, extracted.timestamp, extracted.algorithm),
        "changing the signature changed the other headers"
    );

    let ts = timestamp(h.timestamp);
    let (now, window) = match ts {
        Some(ts) if relative_now => (ts.saturating_add((k - 4) * 150), if k == 7 { 0 } else { WINDOW }),
        _ => (FIXED_NOW, if k == 7 { 0 } else { WINDOW }),
    };
    check_verification(&h, body, now, window);
}

/// Reads one chunk: a length byte and up to that many bytes.
fn chunk<'a>(rest: &mut &'a [u8]) -> &'a [u8] {
    let Some((&len, after)) = rest.split_first() else {
        return &[];
    };
    let (taken, left) = after.split_at(usize::from(len).min(after.len()));
    *rest = left;
    taken
}

/// `extract` and `absent` against a plain restatement of the rule: names compared
/// case-insensitively; each of the four at most once; signature, nonce and timestamp present;
/// every value printable ASCII, at most 128 bytes, without a comma (a folded duplicate).
fn check_extraction(headers: &[(&str, &[u8])], absent: bool, extracted: &Result<SignatureHeaders<'_>, Rejection>) {
    let matching = |slot: usize| {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(HEADERS[slot]))
            .map(|&(_, v)| v)
            .collect::<Vec<_>>()
    };
    let found: [Vec<&[u8]>; 4] = [matching(0), matching(1), matching(2), matching(3)];
    assert_eq!(
        absent,
        found.iter().all(Vec::is_empty),
        "absent() disagrees with the header names"
    );
    let valid = |v: &[u8]| v.len() <= 128 && v.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b',');
    let all_valid = found.iter().flatten().all(|&v| valid(v));
    let no_duplicates = found.iter().all(|f| f.len() <= 1);
    let missing = (0..3).find(|&slot| found[slot].is_empty());
    match extracted {
        Ok(h) => {
            assert!(
                all_valid && no_duplicates && missing.is_none(),
                "extract accepted a duplicate, missing or malformed header: {h:?}"
            );
            let got = [Some(h.signature), Some(h.nonce), Some(h.timestamp), h.algorithm];
            for (slot, value) in got.into_iter().enumerate() {
                assert_eq!(
                    value.map(str::as_bytes),
                    found[slot].first().copied(),
                    "extract returned another value for {}",
                    HEADERS[slot]
                );
            }
        }
        Err(rejection) => {
            assert!(
                !(all_valid && no_duplicates && missing.is_none()),
                "extract refused valid headers: {rejection:?}"
            );
            if let (true, true, Some(slot)) = (all_valid, no_duplicates, missing) {
                assert_eq!(
                    *rejection,
                    Rejection::MissingHeader(HEADERS[slot]),
                    "which header is missing"
                );
            }
        }
    }
}

/// `verify` against the rule it implements: algorithm pinned to HmacSHA256, timestamp whole
/// epoch seconds (1-12 digits) within `window` of `now` both ways (0 = no window), then the
/// signature is exactly `sign(secret, body, nonce, timestamp)`. A timestamp `sign` cannot
/// produce (leading zeros) can only verify if the MAC is forged, so it must not verify here.
fn check_verification(h: &SignatureHeaders<'_>, body: &[u8], now: i64, window: u64) {
    let secret = WebhookSecret::new(SecretString::new(SECRET));
    let other = WebhookSecret::new(SecretString::new(OTHER_SECRET));
    let empty = WebhookSecret::new(SecretString::new(""));

    let precondition = || -> Result<(), Rejection> {
        if h.algorithm.is_some_and(|a| a != ALGORITHM) {
            return Err(Rejection::UnsupportedAlgorithm);
        }
        let ts = timestamp(h.timestamp).ok_or(Rejection::MalformedTimestamp)?;
        let window = i64::try_from(window).unwrap_or(i64::MAX);
        if window > 0 {
            let age = now.saturating_sub(ts);
            if age > window {
                return Err(Rejection::Stale);
            }
            if age < -window {
                return Err(Rejection::Future);
            }
        }
        Ok(())
    };
    let genuine = canonical_timestamp(h.timestamp)
        .is_some_and(|ts| sign(secret.secret(), body, h.nonce, ts).signature == h.signature);
    let expected: Result<usize, Rejection> = precondition().and(if genuine { Ok(0) } else { Err(Rejection::Mismatch) });

    let result = verify(h, body, [&secret], now, window);
    assert_eq!(result, expected, "verify({h:?}, now {now}, window {window})");
    if result.is_ok() {
        // The one way to pass: the signature is what `sign` makes of this body.
        let ts = canonical_timestamp(h.timestamp).unwrap_or_default();
        let again = sign(secret.secret(), body, h.nonce, ts);
        assert_eq!(
            (again.signature.as_str(), again.timestamp.as_str()),
            (h.signature, h.timestamp),
            "verified a signature sign() does not make"
        );
    }
    // Rotation: the matching secret is reported by position, other secrets never match.
    assert_eq!(
        verify(h, body, [&other, &secret], now, window),
        expected.map(|_| 1),
        "second candidate"
    );
    assert_eq!(
        verify(h, body, [&other], now, window),
        precondition().and(Err::<usize, _>(Rejection::Mismatch)),
        "another secret"
    );
    // No usable secret: refused as such once the cheap checks pass.
    assert_eq!(
        verify(h, body, [&empty], now, window),
        precondition().and(Err::<usize, _>(Rejection::NoSecret)),
        "empty secret"
    );
    assert_eq!(
        verify(h, body, std::iter::empty(), now, window),
        precondition().and(Err::<usize, _>(Rejection::NoSecret)),
        "no secret"
    );
}

/// Whole epoch seconds as the verifier accepts them: 1-12 ASCII digits.
fn timestamp(value: &str) -> Option<i64> {
    if value.is_empty() || value.len() > 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// A timestamp `sign` writes exactly this way (no leading zeros).
fn canonical_timestamp(value: &str) -> Option<i64> {
    timestamp(value).filter(|ts| ts.to_string() == value)
}
