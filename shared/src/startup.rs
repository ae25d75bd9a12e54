//! A function that cannot start says why, once, where the on-call operator looks: one ERROR
//! line naming the problem (a setting's variable, the TLS set-up) and one `StartRefused` point,
//! which StartRefusedAlarm watches. Lambda's own signal for it is weak: an init failure shows
//! only as `INIT_REPORT ... Status: error` (a platform line) and, for the sender, as batches
//! that come back until SQS moves them without a reason.

use std::fmt::Display;

use crate::metrics::{Metric, Metrics};

/// Logs and counts `error`, and gives it back for `main` to return (the process then exits).
pub fn refuse<E: Display>(metrics: &Metrics, error: E) -> E {
    tracing::error!(code = "start_refused", error = %error, "the function refuses to start");
    metrics.count(Metric::StartRefused, &[]);
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_refused_start_is_counted_once_and_the_error_is_returned() {
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let metrics = Metrics::with_writer(
            "sender",
            Arc::new(move |l: &str| sink.lock().map(|mut v| v.push(l.to_owned())).unwrap_or(())),
        );
        let error = refuse(&metrics, "SEND_TIMEOUT_MS: too long");
        assert_eq!(error, "SEND_TIMEOUT_MS: too long");
        let lines = lines.lock().map(|v| v.clone()).unwrap_or_default();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains(r#""StartRefused":1.0"#), "{}", lines[0]);
        assert!(lines[0].contains(r#""Function":"sender""#), "{}", lines[0]);
    }
}
