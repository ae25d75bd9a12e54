//! Replays the inputs kept under `fuzz/regressions/ingest_request/` (findings of the cargo-fuzz
//! target `ingest_request`, plus hand-picked seeds) through the same property check the target
//! runs: `fuzz/props/ingest_request.rs`, compiled into this test too. In-memory ports only (no
//! moto). A missing directory means no cases. The other targets are replayed by
//! `shared/tests/fuzz_regressions.rs`.

#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

#[path = "../../fuzz/props/ingest_request.rs"]
mod ingest_request;

#[test]
fn ingest_request_regressions() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/regressions/ingest_request");
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
            std::panic::catch_unwind(|| ingest_request::check(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{dir}: properties violated by {failed:?}");
}
