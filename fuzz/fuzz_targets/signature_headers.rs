//! `SignatureHeaders::extract`/`absent` on header lists decoded from the input, checked
//! against a plain restatement of the rule, then `verify` against a fixed `WebhookSecret`: it
//! accepts exactly what `sign` makes of the body (the target signs half the inputs for real so
//! the success path is reached), reports the matching candidate by position, and refuses with
//! the right rejection otherwise. Input layout: `fuzz/props/signature_headers.rs`.
//!
//! The properties live in `fuzz/props/signature_headers.rs`, shared with the regression replay
//! (`fuzz/regressions/signature_headers/`) so both check the same thing.

#![no_main]

#[path = "../props/signature_headers.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::check(data);
});
