//! `sinch_bridge::protocol::MessagingService::from_json` on arbitrary bytes. Accepted: the
//! service holds what validation promises (ids, non-empty key secret, some way to verify).
//! Either way: neither the error text nor the `Debug` dump shows `webhook_secret`,
//! `key_secret`, `password` or an app's `webhook_secret` (8+ bytes) except by coincidence that
//! survives blanking those secrets.
//!
//! The properties live in `fuzz/props/service_config.rs`, shared with the regression replay
//! (`fuzz/regressions/service_config/`) so both check the same thing.

#![no_main]

#[path = "../props/service_config.rs"]
mod props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    props::check(data);
});
