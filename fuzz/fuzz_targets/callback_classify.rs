//! `sinch_bridge::protocol::classify` on arbitrary bytes. When it accepts a body: it is
//! deterministic; the deduplication id is 64 lower-case hex chars; the group id is 1-128 chars of
//! `[A-Za-z0-9_-]`, keyed on the conversation, else the hashed channel identity (never in
//! clear), else the app; the queue message holds the bytes as sent (text SQS can hold, else
//! base64, flagged) and at most 10 distinct non-empty attributes SQS can hold.
//!
//! The properties live in `fuzz/props/callback_classify.rs`, shared with the regression replay
//! (`fuzz/regressions/callback_classify/`) so both check the same thing.

#![no_main]

#[path = "../props/callback_classify.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::check(data);
});
