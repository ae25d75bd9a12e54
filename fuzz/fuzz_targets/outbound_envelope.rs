//! `sinch_bridge::protocol::parse_outbound` on arbitrary bytes. Accepted: the request
//! serialises to a JSON object with `app_id`, `recipient` and `message`, passing the message
//! (or the raw request) through with every field. Rejected: the error text quotes no string of
//! the `message` object (12+ bytes) except where the same text is there with those strings
//! blanked (a key quoted as a field name, a fixed phrase).
//!
//! The properties live in `fuzz/props/outbound_envelope.rs`, shared with the regression replay
//! (`fuzz/regressions/outbound_envelope/`) so both check the same thing.

#![no_main]

#[path = "../props/outbound_envelope.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::check(data);
});
