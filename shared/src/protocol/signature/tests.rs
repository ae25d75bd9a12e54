use super::*;
use proptest::prelude::*;

const SECRET: &str = "topsecret";
const BODY: &str = r#"{"app_id":"01ABC"}"#;
const NONCE: &str = "01HZZZNONCE";
const TS: &str = "1700000000";
/// Computed outside this code base:
/// `printf '%s' '{"app_id":"01ABC"}.01HZZZNONCE.1700000000' | openssl dgst -sha256 -hmac topsecret -binary | base64`
const SIG: &str = "hdWPHDE3Q0xsDGYcP5JXkXB2caXJsGkJKG6GB6UYGGE=";
const NOW: i64 = 1_700_000_000;

fn secret(s: &str) -> SecretString {
    SecretString::new(s)
}

fn key(s: &str) -> WebhookSecret {
    WebhookSecret::new(secret(s))
}

fn headers<'a>(sig: &'a str, nonce: &'a str, ts: &'a str) -> SignatureHeaders<'a> {
    SignatureHeaders {
        signature: sig,
        nonce,
        timestamp: ts,
        algorithm: Some(ALGORITHM),
    }
}

fn check(h: &SignatureHeaders<'_>, body: &str) -> Result<usize, Rejection> {
    verify(h, body.as_bytes(), [&key(SECRET)], NOW, 600)
}

#[test]
fn accepts_independently_computed_vector() {
    assert_eq!(check(&headers(SIG, NONCE, TS), BODY), Ok(0));
}

#[test]
fn accepts_second_independent_vectors() {
    // openssl, as above, for 'hello.n.1' and '.n.5' (empty body) with key topsecret.
    let s = key(SECRET);
    let h = headers("L/dpvPjsAlLp2mEkoDrKwy4xBteiZgFHhzligLuJb80=", "n", "1");
    assert_eq!(verify(&h, b"hello", [&s], 1, 0), Ok(0));
    let h = headers("jQs9QiYMYmrTqNXfFztkL81k0hIZ+yfTXquUWY50c3k=", "n", "5");
    assert_eq!(verify(&h, b"", [&s], 5, 0), Ok(0));
}

#[test]
fn sign_produces_the_independent_vector() {
    let signed = sign(&secret(SECRET), BODY.as_bytes(), NONCE, NOW);
    assert_eq!(signed.signature, SIG);
    assert_eq!(signed.timestamp, TS);
    let pairs = signed.pairs();
    assert_eq!(pairs[3], (ALGORITHM_HEADER, "HmacSHA256"));
}

#[test]
fn rejects_one_changed_byte_of_body() {
    assert_eq!(
        check(&headers(SIG, NONCE, TS), r#"{"app_id":"01ABD"}"#),
        Err(Rejection::Mismatch)
    );
}

#[test]
fn rejects_changed_nonce_or_timestamp() {
    assert_eq!(check(&headers(SIG, "01HZZZNONCF", TS), BODY), Err(Rejection::Mismatch));
    assert_eq!(
        check(&headers(SIG, NONCE, "1700000001"), BODY),
        Err(Rejection::Mismatch)
    );
}

#[test]
fn rejects_nonce_and_timestamp_swapped() {
    // The MAC covers body.nonce.timestamp; feeding the fields the other way round must fail.
    let swapped = sign(&secret(SECRET), BODY.as_bytes(), TS, 0);
    let h = SignatureHeaders {
        signature: &swapped.signature,
        nonce: NONCE,
        timestamp: TS,
        algorithm: None,
    };
    assert_eq!(check(&h, BODY), Err(Rejection::Mismatch));
}

#[test]
fn rejects_stripped_padding_hex_and_whitespace() {
    let unpadded = SIG.trim_end_matches('=');
    assert_eq!(check(&headers(unpadded, NONCE, TS), BODY), Err(Rejection::Mismatch));
    let hex: String = STANDARD
        .decode(SIG)
        .unwrap_or_default()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(check(&headers(&hex, NONCE, TS), BODY), Err(Rejection::Mismatch));
    let spaced = format!(" {SIG}");
    assert_eq!(check(&headers(&spaced, NONCE, TS), BODY), Err(Rejection::Mismatch));
    // base64url of the 'hello.n.1' vector ('/' -> '_') is not the standard alphabet.
    let urlsafe = headers("L_dpvPjsAlLp2mEkoDrKwy4xBteiZgFHhzligLuJb80=", "n", "1");
    assert_eq!(
        verify(&urlsafe, b"hello", [&key(SECRET)], 1, 0),
        Err(Rejection::Mismatch)
    );
    let truncated = &SIG[..20];
    assert_eq!(check(&headers(truncated, NONCE, TS), BODY), Err(Rejection::Mismatch));
}

#[test]
fn rejects_wrong_secret() {
    let h = headers(SIG, NONCE, TS);
    assert_eq!(
        verify(&h, BODY.as_bytes(), [&key("other")], NOW, 600),
        Err(Rejection::Mismatch)
    );
}

#[test]
fn accepts_any_candidate_secret_during_rotation() {
    let h = headers(SIG, NONCE, TS);
    let old = key("old-secret");
    let current = key(SECRET);
    assert_eq!(verify(&h, BODY.as_bytes(), [&old, &current], NOW, 600), Ok(1));
}

#[test]
fn second_independent_secret_vector_matches_during_rotation() {
    // openssl: '{"a":1}.01NONCE.1700000000' with key rotated-secret.
    let h = headers("A261uVp0rHE4EZNxetA4bHQis1AYFDzTz/zamxnAo4g=", "01NONCE", TS);
    let current = key(SECRET);
    let pending = key("rotated-secret");
    assert_eq!(verify(&h, br#"{"a":1}"#, [&current, &pending], NOW, 600), Ok(1));
}

#[test]
fn empty_or_missing_secrets_are_no_secret() {
    let h = headers(SIG, NONCE, TS);
    let empty = key("");
    assert_eq!(
        verify(&h, BODY.as_bytes(), [&empty], NOW, 600),
        Err(Rejection::NoSecret)
    );
    assert_eq!(
        verify(&h, BODY.as_bytes(), std::iter::empty(), NOW, 600),
        Err(Rejection::NoSecret)
    );
}

#[test]
fn window_edges_are_inclusive() {
    let h = headers(SIG, NONCE, TS);
    let s = key(SECRET);
    assert_eq!(verify(&h, BODY.as_bytes(), [&s], NOW + 600, 600), Ok(0));
    assert_eq!(verify(&h, BODY.as_bytes(), [&s], NOW + 601, 600), Err(Rejection::Stale));
    assert_eq!(verify(&h, BODY.as_bytes(), [&s], NOW - 600, 600), Ok(0));
    assert_eq!(
        verify(&h, BODY.as_bytes(), [&s], NOW - 601, 600),
        Err(Rejection::Future)
    );
}

#[test]
fn zero_window_disables_the_freshness_check() {
    let h = headers(SIG, NONCE, TS);
    let s = key(SECRET);
    assert_eq!(verify(&h, BODY.as_bytes(), [&s], i64::MAX, 0), Ok(0));
    assert_eq!(verify(&h, BODY.as_bytes(), [&s], i64::MIN, 0), Ok(0));
}

#[test]
fn rejects_malformed_timestamps() {
    let s = key(SECRET);
    for ts in [
        "",
        "-1",
        "+1",
        "1.5",
        "1e9",
        " 1700000000",
        "0x10",
        "9999999999999",
        "١٢",
    ] {
        let h = headers(SIG, NONCE, ts);
        assert_eq!(
            verify(&h, BODY.as_bytes(), [&s], NOW, 0),
            Err(Rejection::MalformedTimestamp),
            "{ts:?}"
        );
    }
}

#[test]
fn algorithm_is_pinned_but_may_be_absent() {
    let s = key(SECRET);
    for alg in ["hmacsha256", "HmacSHA1", "", "HmacSHA256 "] {
        let mut h = headers(SIG, NONCE, TS);
        h.algorithm = Some(alg);
        assert_eq!(
            verify(&h, BODY.as_bytes(), [&s], NOW, 600),
            Err(Rejection::UnsupportedAlgorithm),
            "{alg:?}"
        );
    }
    let mut h = headers(SIG, NONCE, TS);
    h.algorithm = None;
    assert_eq!(verify(&h, BODY.as_bytes(), [&s], NOW, 600), Ok(0));
}

fn pairs<'a>(list: &'a [(&'a str, &'a str)]) -> impl Iterator<Item = (&'a str, &'a [u8])> {
    list.iter().map(|(n, v)| (*n, v.as_bytes()))
}

#[test]
fn extracts_header_names_case_insensitively() {
    let list = [
        ("X-Sinch-Webhook-Signature", SIG),
        ("X-SINCH-WEBHOOK-SIGNATURE-NONCE", NONCE),
        ("x-sinch-webhook-signature-timestamp", TS),
        ("Content-Type", "application/json"),
    ];
    let h = SignatureHeaders::extract(pairs(&list));
    assert_eq!(
        h,
        Ok(headers(SIG, NONCE, TS)).map(|mut h| {
            h.algorithm = None;
            h
        })
    );
}

#[test]
fn ignores_other_headers_that_share_the_prefix() {
    let list = [
        ("x-sinch-webhook-signature", SIG),
        ("x-sinch-webhook-signature-nonce", NONCE),
        ("x-sinch-webhook-signature-timestamp", TS),
        ("X-Sinch-Webhook-Signature-Version", "2,3"),
        ("x-sinch-webhook-signaturex", "\u{7f}"),
        ("x-sinch-webhook", "1"),
    ];
    assert_eq!(
        SignatureHeaders::extract(pairs(&list)).map(|h| (h.signature, h.nonce, h.timestamp)),
        Ok((SIG, NONCE, TS))
    );
}

#[test]
fn names_the_missing_header() {
    let list = [(SIGNATURE_HEADER, SIG), (TIMESTAMP_HEADER, TS)];
    assert_eq!(
        SignatureHeaders::extract(pairs(&list)),
        Err(Rejection::MissingHeader(NONCE_HEADER))
    );
    assert_eq!(
        SignatureHeaders::extract(pairs(&[])),
        Err(Rejection::MissingHeader(SIGNATURE_HEADER))
    );
}

#[test]
fn rejects_duplicated_headers_in_either_form() {
    let list = [
        (SIGNATURE_HEADER, SIG),
        ("X-Sinch-Webhook-Signature", SIG),
        (NONCE_HEADER, NONCE),
        (TIMESTAMP_HEADER, TS),
    ];
    assert_eq!(
        SignatureHeaders::extract(pairs(&list)),
        Err(Rejection::DuplicateHeader(SIGNATURE_HEADER))
    );
    let folded = format!("{NONCE},{NONCE}");
    let list = [
        (SIGNATURE_HEADER, SIG),
        (NONCE_HEADER, folded.as_str()),
        (TIMESTAMP_HEADER, TS),
    ];
    assert_eq!(
        SignatureHeaders::extract(pairs(&list)),
        Err(Rejection::DuplicateHeader(NONCE_HEADER))
    );
}

#[test]
fn rejects_non_ascii_and_non_utf8_header_values() {
    let list = [(SIGNATURE_HEADER, "é"), (NONCE_HEADER, NONCE), (TIMESTAMP_HEADER, TS)];
    assert_eq!(
        SignatureHeaders::extract(pairs(&list)),
        Err(Rejection::MalformedHeader(SIGNATURE_HEADER))
    );
    let raw: [(&str, &[u8]); 1] = [(NONCE_HEADER, &[0xff, 0xfe])];
    assert_eq!(
        SignatureHeaders::extract(raw),
        Err(Rejection::MalformedHeader(NONCE_HEADER))
    );
}

#[test]
fn rejects_oversized_header_values() {
    let long = "A".repeat(129);
    let list = [
        (SIGNATURE_HEADER, SIG),
        (NONCE_HEADER, long.as_str()),
        (TIMESTAMP_HEADER, TS),
    ];
    assert_eq!(
        SignatureHeaders::extract(pairs(&list)),
        Err(Rejection::MalformedHeader(NONCE_HEADER))
    );
}

#[test]
fn header_values_must_be_printable_ascii_at_both_ends_of_the_range() {
    let nonce = |value: &'static [u8]| -> Result<String, Rejection> {
        let raw: [(&str, &[u8]); 3] = [
            (SIGNATURE_HEADER, SIG.as_bytes()),
            (NONCE_HEADER, value),
            (TIMESTAMP_HEADER, TS.as_bytes()),
        ];
        SignatureHeaders::extract(raw).map(|h| h.nonce.to_owned())
    };
    assert_eq!(nonce(b" ~"), Ok(" ~".to_owned()));
    assert_eq!(nonce(b"a\x1fb"), Err(Rejection::MalformedHeader(NONCE_HEADER)));
    assert_eq!(nonce(b"a\x7fb"), Err(Rejection::MalformedHeader(NONCE_HEADER)));
    // A control byte outranks a comma: the value is malformed, not merely folded.
    assert_eq!(nonce(b"a,\x00"), Err(Rejection::MalformedHeader(NONCE_HEADER)));
    assert_eq!(nonce(b"a,b"), Err(Rejection::DuplicateHeader(NONCE_HEADER)));
}

#[test]
fn absent_means_no_signature_header_at_all() {
    assert!(SignatureHeaders::absent(pairs(&[("content-type", "x")])));
    assert!(!SignatureHeaders::absent(pairs(&[(
        "X-Sinch-Webhook-Signature-Nonce",
        "n"
    )])));
}

#[test]
fn rejection_codes_are_stable_and_distinct() {
    let all = [
        Rejection::MissingHeader(SIGNATURE_HEADER),
        Rejection::DuplicateHeader(SIGNATURE_HEADER),
        Rejection::MalformedHeader(SIGNATURE_HEADER),
        Rejection::UnsupportedAlgorithm,
        Rejection::MalformedTimestamp,
        Rejection::Stale,
        Rejection::Future,
        Rejection::Mismatch,
        Rejection::NoSecret,
    ];
    let codes: std::collections::HashSet<_> = all.iter().map(Rejection::code).collect();
    assert_eq!(codes.len(), all.len());
    assert_eq!(Rejection::Stale.code(), "stale_timestamp");
    assert_eq!(Rejection::Mismatch.code(), "signature_mismatch");
}

proptest! {
    #[test]
    fn sign_then_verify_round_trips(
        key in "[ -~]{1,64}",
        body in proptest::collection::vec(any::<u8>(), 0..512),
        nonce in "[0-9A-Z]{26}",
        ts in 0i64..4_000_000_000,
    ) {
        let s = WebhookSecret::new(secret(&key));
        let signed = sign(s.secret(), &body, &nonce, ts);
        let h = SignatureHeaders { signature: &signed.signature, nonce: &signed.nonce, timestamp: &signed.timestamp, algorithm: Some(ALGORITHM) };
        prop_assert_eq!(verify(&h, &body, [&s], ts, 600), Ok(0));
    }

    #[test]
    fn any_single_byte_change_fails(
        body in proptest::collection::vec(any::<u8>(), 1..256),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        target in 0usize..3,
    ) {
        let s = key(SECRET);
        let signed = sign(s.secret(), &body, NONCE, NOW);
        let mut body2 = body.clone();
        let mut nonce2 = NONCE.as_bytes().to_vec();
        let mut ts2 = signed.timestamp.as_bytes().to_vec();
        let field = match target { 0 => &mut body2, 1 => &mut nonce2, _ => &mut ts2 };
        let i = index.index(field.len());
        field[i] ^= flip;
        let (Ok(nonce2), Ok(ts2)) = (String::from_utf8(nonce2), String::from_utf8(ts2)) else {
            return Ok(()); // a non-UTF-8 header never reaches verify
        };
        let h = SignatureHeaders { signature: &signed.signature, nonce: &nonce2, timestamp: &ts2, algorithm: None };
        prop_assert!(verify(&h, &body2, [&s], NOW, 0).is_err());
    }
}
