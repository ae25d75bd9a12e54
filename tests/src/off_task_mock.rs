//! wiremock's `MockServer`, dropped where dropping it cannot hang.
//!
//! `MockServer`'s `Drop` verifies its mocks with `futures::executor::block_on`, which takes a
//! tokio `RwLock`. Acquiring it spends the current tokio task's co-operative budget; when a test
//! drops the server after its task spent the whole budget (128 operations since it last yielded,
//! which a long simulated run does), the lock answers `Pending` until the task yields, and the
//! task cannot yield from inside `block_on`: the thread spins forever at full CPU (seen as an
//! 18-minute hang of `signals.rs` in CI; tokio PR #2711 describes the same trap for nested
//! executors). A plain thread has no budget, so the drop happens there.

use std::ops::Deref;

use wiremock::MockServer;

/// A `MockServer` that drops on a thread of its own; use it as a `MockServer` through `Deref`.
pub struct OffTaskMock(Option<MockServer>);

impl OffTaskMock {
    /// A server from wiremock's pool, recording requests.
    pub async fn start() -> Self {
        Self(Some(MockServer::start().await))
    }

    /// A server of its own that keeps no copy of the requests (long runs send many).
    pub async fn unrecorded() -> Self {
        Self(Some(MockServer::builder().disable_request_recording().start().await))
    }
}

impl Deref for OffTaskMock {
    type Target = MockServer;

    fn deref(&self) -> &MockServer {
        // Only `Drop` takes the server out.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("an OffTaskMock is used after its drop"))
    }
}

impl Drop for OffTaskMock {
    fn drop(&mut self) {
        if let Some(server) = self.0.take() {
            // A panic in wiremock's verification (an unmet expectation) is re-raised here, so a
            // test still fails for it.
            if let Err(panic) = std::thread::spawn(move || drop(server)).join()
                && !std::thread::panicking()
            {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn drops_after_the_task_spent_its_budget() {
        let (done, finished) = mpsc::channel();
        // On a thread of its own, so that a hang fails this test instead of stalling the suite.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let server = OffTaskMock::unrecorded().await;
                tokio::task::yield_now().await;
                let lock = tokio::sync::Mutex::new(());
                // Each uncontended acquire is ready at once and spends one unit of the 128.
                for _ in 0..128 {
                    drop(lock.lock().await);
                }
                drop(server);
            });
            let _ = done.send(());
        });
        assert!(
            finished.recv_timeout(Duration::from_secs(60)).is_ok(),
            "dropping the mock after the task's budget was spent hung"
        );
    }
}
