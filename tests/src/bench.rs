//! What the sender benchmarks share: the process's CPU time, and the mock Conversation API in a
//! child process (this executable run with `--serve-mock`), so its CPU is not the client's.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use wiremock::matchers::path;
use wiremock::{Mock, Respond, ResponseTemplate};

use crate::off_task_mock::OffTaskMock;

/// The path the benchmarks' service (region eu, project `p`) sends to.
pub const SEND_PATH: &str = "/eu/v1/projects/p/messages:send";

/// CPU time of this whole process (every thread, from the scheduler's nanosecond accounting):
/// with the mock in another process, that is the client's.
pub fn cpu_time() -> Duration {
    let mut total = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            total += stat
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(total)
}

/// In the child: an OAuth token endpoint, `send` on [`SEND_PATH`] and whatever `more` mounts;
/// prints the mock's URI and serves until stdin closes (the parent exits).
pub fn serve_mock<R, F>(send: R, more: impl FnOnce(OffTaskMock) -> F)
where
    R: Respond + 'static,
    F: Future<Output = OffTaskMock>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mock = OffTaskMock::start().await;
        Mock::given(path("/oauth2/token"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": "t", "expires_in": 3600})),
            )
            .mount(&mock)
            .await;
        Mock::given(path(SEND_PATH)).respond_with(send).mount(&mock).await;
        let mock = more(mock).await;
        println!("{}", mock.uri());
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    });
}

/// In the parent: starts the mock in a child process, on core 0 when `taskset` exists
/// (bench.sh pins the benchmark to core 1), and returns it with its base URI. Dropping its
/// stdin stops it.
pub fn spawn_mock() -> (Child, String) {
    let exe = std::env::current_exe().unwrap();
    let pinned = Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let mut command = if pinned {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let mut child = command
        .arg("--serve-mock")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut uri = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut uri)
        .unwrap();
    (child, uri.trim().to_owned())
}
