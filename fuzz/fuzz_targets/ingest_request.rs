//! The whole webhook path: `webhook_ingest::entry` with in-memory Secrets Manager and SQS.
//! The input is a mode byte and a payload: a raw API Gateway event, or a callback body that the
//! target wraps in an HTTP API or REST API event and signs (right secret, wrong secret, stale,
//! duplicated) or not. Always an answer (never `Err`), status 200/400/401/413/503, a JSON body
//! with `status: "stored"` and exactly one queued message, or an `error` code and none; 200
//! only for bodies signed with the right secret; exactly 200 for a signed plain-text callback
//! (stored byte for byte), exactly 401 for unsigned, forged, stale or folded signatures and
//! unknown services, 413 over the size limit. Layout: `fuzz/props/ingest_request.rs`.
//!
//! The properties live in `fuzz/props/ingest_request.rs`, shared with the regression replay
//! (`fuzz/regressions/ingest_request/`) so both check the same thing.

#![no_main]

#[path = "../props/ingest_request.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::check(data);
});
