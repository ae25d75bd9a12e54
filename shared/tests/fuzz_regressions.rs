//! Replays the inputs kept under `fuzz/regressions/<target>/` (findings of the cargo-fuzz
//! targets in `fuzz/`, plus hand-picked seeds) through the same property checks the targets
//! run: the check functions are the files in `fuzz/props/`, compiled into this test too.
//! A missing directory means no cases. `ingest_request` is replayed by
//! `tests/tests/fuzz_regressions_ingest.rs`, which can depend on webhook-ingest.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

#[path = "../../fuzz/props/callback_classify.rs"]
mod callback_classify;
#[path = "../../fuzz/props/outbound_envelope.rs"]
mod outbound_envelope;
#[path = "../../fuzz/props/service_config.rs"]
mod service_config;
#[path = "../../fuzz/props/signature_headers.rs"]
mod signature_headers;

/// Runs `check` on every file of `dir` but its README; fails naming every file that broke a
/// property (each one's panic message is printed above).
fn replay(dir: &str, check: fn(&[u8])) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => panic!("{dir}: {e}"),
    };
    let mut cases: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap_or_else(|e| panic!("{dir}: {e}")).path())
        .filter(|path| path.is_file() && path.file_name() != Some(std::ffi::OsStr::new("README")))
        .collect();
    cases.sort();
    let failed: Vec<String> = cases
        .iter()
        .filter(|path| {
            let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{dir}: properties violated by {failed:?}");
}

#[test]
fn callback_classify_regressions() {
    replay(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/callback_classify"),
        callback_classify::check,
    );
}

#[test]
fn outbound_envelope_regressions() {
    replay(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/outbound_envelope"),
        outbound_envelope::check,
    );
}

#[test]
fn service_config_regressions() {
    replay(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/service_config"),
        service_config::check,
    );
}

#[test]
fn signature_headers_regressions() {
    replay(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/signature_headers"),
        signature_headers::check,
    );
}
