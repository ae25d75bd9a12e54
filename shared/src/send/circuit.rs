//! Which services failed moments ago in this execution environment: a record of such a service
//! on the outbound queue goes to the retry queue without an attempt, so a service that is down
//! (its region, its key, Sinch's auth endpoint) costs each environment one attempt per
//! [`OPEN_FOR`], not one per record: a timeout is seconds of an invocation the other services
//! share. The retry queue's own records are always attempted (their backoff paces them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::outcome::RetryCause;
use crate::clock::Clock;

/// How long a service's failure keeps its next records from being attempted.
pub const OPEN_FOR: Duration = Duration::from_secs(30);

/// When a service's circuit opened, and the failure that opened it (cause, HTTP status).
type Opened = (Instant, RetryCause, Option<u16>);

pub(super) struct Circuits {
    clock: Arc<dyn Clock>,
    open: Mutex<HashMap<String, Opened>>,
}

/// Failures that say the service is failing, not the record: worth not trying the next one.
fn service_wide(cause: RetryCause) -> bool {
    matches!(
        cause,
        RetryCause::ServerError
            | RetryCause::Timeout
            | RetryCause::ConnectionError
            | RetryCause::TransportError
            | RetryCause::AuthUnavailable
            | RetryCause::AuthRejected
            | RetryCause::SecretsUnavailable
            | RetryCause::ServiceMisconfigured
    )
}

impl Circuits {
    pub(super) fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Opened>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cause (and Sinch's status) that keeps `service`'s records from being attempted now.
    pub(super) fn open(&self, service: &str) -> Option<(RetryCause, Option<u16>)> {
        let now = self.clock.now();
        let mut open = self.lock();
        match open.get(service) {
            Some((since, cause, status)) if now.duration_since(*since) < OPEN_FOR => Some((*cause, *status)),
            Some(_) => {
                // Its time is up: the next record is attempted, and opens it again if it fails.
                open.remove(service);
                None
            }
            None => None,
        }
    }

    pub(super) fn failed(&self, service: &str, cause: RetryCause, http_status: Option<u16>) {
        if service_wide(cause) {
            self.lock()
                .insert(service.to_owned(), (self.clock.now(), cause, http_status));
        }
    }

    pub(super) fn succeeded(&self, service: &str) {
        self.lock().remove(service);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ManualClock;

    #[test]
    fn a_service_failure_opens_for_a_while_and_a_record_failure_does_not() {
        let clock = ManualClock::new(0);
        let c = Circuits::new(clock.clone());
        c.failed("eu", RetryCause::RateLimited, Some(429));
        assert_eq!(c.open("eu"), None, "a 429 is the app's pace, not an outage");
        c.failed("eu", RetryCause::ServerError, Some(503));
        assert_eq!(c.open("eu"), Some((RetryCause::ServerError, Some(503))));
        assert_eq!(c.open("us"), None);
        clock.advance(OPEN_FOR);
        assert_eq!(c.open("eu"), None, "then one record is attempted again");
        c.failed("eu", RetryCause::Timeout, None);
        c.succeeded("eu");
        assert_eq!(c.open("eu"), None);
    }
}
