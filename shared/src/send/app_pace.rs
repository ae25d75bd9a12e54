//! How fast this execution environment sends to each Sinch app. Sinch drains an app's queue at
//! 20–25 messages/s by default and answers 429 beyond (docs/reference.md, "Rate limits"), with
//! no documented `Retry-After`. So the pace is learned: unlimited until the app's first 429,
//! which sets it to [`CUT`] of what Sinch accepted in the second before (the best estimate of
//! the app's limit there is); then each 429 cuts it to [`CUT`] of itself, at most once per
//! [`CUT_EVERY`] (the answers to one burst arrive together), and every second without one
//! raises it by [`RAISE_PER_SECOND`] of itself, at least [`RAISE_MIN`], probing for more. The
//! first estimate comes from a burst and is often far too low, so until the next 429 the rate
//! grows by [`PROBE_PER_SECOND`] of itself each second (TCP's slow start). A `Retry-After` stops
//! every send to the app until it has passed. Several environments sending to one app each cut
//! on their own 429s and converge on a share of it.
//!
//! Pure state: `now` is passed in, so the arithmetic is tested without waiting.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a 429 leaves of the rate (a gentle cut: a sender at the limit loses little).
pub const CUT: f64 = 0.7;
/// One cut per this long: the 429s answering one burst are one signal.
pub const CUT_EVERY: Duration = Duration::from_secs(1);
/// How much of itself the rate grows by per second without a 429.
pub const RAISE_PER_SECOND: f64 = 0.03;
/// How fast the rate grows after the app's first 429 until its next one.
pub const PROBE_PER_SECOND: f64 = 0.5;
/// The least the rate grows by per second without a 429, in messages/s.
pub const RAISE_MIN: f64 = 0.25;
/// The slowest pace: one message every two seconds.
pub const MIN_RATE: f64 = 0.5;
/// Past Sinch's per-project limit (800 requests/s) a learned limit is forgotten.
pub const FORGET_ABOVE: f64 = 800.0;
/// Acceptances remembered per app to measure the rate at the first 429.
const WINDOW: Duration = Duration::from_secs(1);
const WINDOW_CAP: usize = 1_000;
/// Apps tracked; past it the map starts over (a pace forgotten, never a crash).
const CAPACITY: usize = 10_000;

/// When a send to an app may start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot {
    /// After this wait (zero: now); the slot is taken.
    After(Duration),
    /// Not within the wait the caller allows: come back after this long; nothing taken.
    Later(Duration),
}

#[derive(Debug)]
struct Pace {
    /// Messages per second; `None` until the app's first 429.
    rate: Option<f64>,
    /// When the next send may start.
    next: Instant,
    paused_until: Option<Instant>,
    last_cut: Option<Instant>,
    last_raise: Instant,
    /// Between the first cut and the next: the first estimate is being corrected.
    probing: bool,
    /// Recent acceptances, to know the app's rate at its first 429.
    recent: VecDeque<Instant>,
}

impl Pace {
    fn new(now: Instant) -> Self {
        Self {
            rate: None,
            next: now,
            paused_until: None,
            last_cut: None,
            last_raise: now,
            probing: false,
            recent: VecDeque::new(),
        }
    }

    fn accepted_rate(&mut self, now: Instant) -> f64 {
        while self.recent.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
            self.recent.pop_front();
        }
        #[allow(clippy::cast_precision_loss)] // at most WINDOW_CAP
        let sent = self.recent.len() as f64;
        sent / WINDOW.as_secs_f64()
    }
}

#[derive(Default)]
pub struct AppPaces(Mutex<HashMap<String, Pace>>);

impl AppPaces {
    fn with<T>(&self, app: &str, now: Instant, f: impl FnOnce(&mut Pace) -> T) -> T {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= CAPACITY && !map.contains_key(app) {
            map.clear();
        }
        f(map.entry(app.to_owned()).or_insert_with(|| Pace::new(now)))
    }

    /// A slot for one send to `app`, if one comes within `max_wait`.
    pub fn reserve(&self, app: &str, now: Instant, max_wait: Duration) -> Slot {
        self.with(app, now, |p| {
            let mut start = p.paused_until.filter(|t| *t > now).unwrap_or(now);
            if p.rate.is_some() {
                start = start.max(p.next);
            }
            let wait = start.duration_since(now);
            if wait > max_wait {
                return Slot::Later(wait);
            }
            if let Some(rate) = p.rate {
                p.next = start + Duration::from_secs_f64(1.0 / rate);
            }
            Slot::After(wait)
        })
    }

    /// Sinch answered 429 for `app`.
    pub fn limited(&self, app: &str, now: Instant, retry_after: Option<Duration>) {
        self.with(app, now, |p| {
            if let Some(after) = retry_after {
                let until = now + after;
                p.paused_until = Some(p.paused_until.map_or(until, |t| t.max(until)));
            }
            if p.last_cut.is_some_and(|t| now.duration_since(t) < CUT_EVERY) {
                return;
            }
            let accepted = p.accepted_rate(now);
            let sending = match p.rate {
                None => accepted,
                // A probe that overshot: what Sinch accepted in the last second is the better
                // estimate (several environments probing at once overshoot together).
                Some(rate) if p.probing => rate.min(accepted.max(MIN_RATE)),
                Some(rate) => rate,
            };
            p.probing = p.rate.is_none();
            p.rate = Some((sending * CUT).max(MIN_RATE));
            p.last_cut = Some(now);
            p.last_raise = now;
        });
    }

    /// Sinch accepted a message for `app`.
    pub fn accepted(&self, app: &str, now: Instant) {
        self.with(app, now, |p| {
            if p.recent.len() >= WINDOW_CAP {
                p.recent.pop_front();
            }
            p.recent.push_back(now);
            let Some(rate) = p.rate else { return };
            let seconds = now.duration_since(p.last_raise).as_secs_f64();
            let per_second = if p.probing {
                rate * PROBE_PER_SECOND
            } else {
                (rate * RAISE_PER_SECOND).max(RAISE_MIN)
            };
            let raised = rate + per_second * seconds;
            p.last_raise = now;
            p.rate = (raised <= FORGET_ABOVE).then_some(raised);
        });
    }

    /// The learned rate (tests, logs).
    pub fn rate(&self, app: &str) -> Option<f64> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(app).and_then(|p| p.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_WAIT: Duration = Duration::ZERO;
    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn an_app_without_a_429_is_not_paced() {
        let paces = AppPaces::default();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(paces.reserve("a", now, NO_WAIT), Slot::After(Duration::ZERO));
        }
        assert_eq!(paces.rate("a"), None);
    }

    #[test]
    fn a_429_cuts_every_later_send_to_that_app_to_a_share_of_what_sinch_accepted() {
        let paces = AppPaces::default();
        let now = Instant::now();
        for _ in 0..40 {
            paces.reserve("a", now, NO_WAIT);
            paces.accepted("a", now);
        }
        paces.limited("a", now, None);
        let rate = paces.rate("a").unwrap_or_default();
        assert!((rate - 40.0 * CUT).abs() < 1e-9, "{rate}");
        // The next sends are spaced by 1/32 s; another app is untouched.
        assert_eq!(paces.reserve("a", now, LONG), Slot::After(Duration::ZERO));
        assert_eq!(
            paces.reserve("a", now, LONG),
            Slot::After(Duration::from_secs_f64(1.0 / rate))
        );
        assert_eq!(paces.reserve("b", now, NO_WAIT), Slot::After(Duration::ZERO));
    }

    #[test]
    fn the_429s_of_one_burst_cut_once() {
        let paces = AppPaces::default();
        let now = Instant::now();
        for _ in 0..10 {
            paces.accepted("a", now);
        }
        for _ in 0..5 {
            paces.limited("a", now + Duration::from_millis(100), None);
        }
        assert_eq!(paces.rate("a"), Some(10.0 * CUT));
        for _ in 0..10 {
            paces.accepted("a", now + Duration::from_millis(100));
        }
        paces.limited("a", now + CUT_EVERY + Duration::from_millis(100), None);
        assert!((paces.rate("a").unwrap_or_default() - 10.0 * CUT * CUT).abs() < 1e-9);
    }

    #[test]
    fn a_rate_grows_back_while_sinch_accepts_and_is_forgotten_past_the_project_limit() {
        let paces = AppPaces::default();
        let now = Instant::now();
        paces.limited("a", now, None);
        assert_eq!(paces.rate("a"), Some(MIN_RATE), "nothing accepted: the slowest pace");
        paces.accepted("a", now + Duration::from_secs(2));
        let probed = MIN_RATE * (1.0 + 2.0 * PROBE_PER_SECOND);
        assert!(
            (paces.rate("a").unwrap_or_default() - probed).abs() < 1e-9,
            "fast after the first cut"
        );
        let second_cut = now + Duration::from_secs(3);
        paces.limited("a", second_cut, None);
        let cut = probed * CUT;
        assert!((paces.rate("a").unwrap_or_default() - cut).abs() < 1e-9);
        paces.accepted("a", second_cut + Duration::from_secs(10));
        let grown = cut + RAISE_MIN * 10.0;
        assert!(
            (paces.rate("a").unwrap_or_default() - grown).abs() < 1e-9,
            "then at least RAISE_MIN a second"
        );
        paces.accepted("a", now + Duration::from_secs(100_000));
        assert_eq!(paces.rate("a"), None, "unlimited again");
    }

    #[test]
    fn a_probe_that_overshot_is_cut_to_a_share_of_what_sinch_accepted() {
        let paces = AppPaces::default();
        let now = Instant::now();
        for _ in 0..10 {
            paces.accepted("a", now);
        }
        paces.limited("a", now, None);
        // Probing for 4 s without a 429 takes the rate past 20/s; Sinch accepted 12 in the
        // last second.
        let later = now + Duration::from_secs(4);
        for i in 0..12 {
            paces.accepted("a", later - Duration::from_millis(900) + Duration::from_millis(i * 50));
        }
        assert!(paces.rate("a").unwrap_or_default() > 20.0);
        paces.limited("a", later, None);
        assert!(
            (paces.rate("a").unwrap_or_default() - 12.0 * CUT).abs() < 1e-9,
            "{:?}",
            paces.rate("a")
        );
        // Probing is over: the next 429 a second later cuts the rate itself.
        paces.limited("a", later + CUT_EVERY, None);
        assert!((paces.rate("a").unwrap_or_default() - 12.0 * CUT * CUT).abs() < 1e-9);
    }

    #[test]
    fn a_retry_after_stops_every_send_to_the_app_until_it_has_passed() {
        let paces = AppPaces::default();
        let now = Instant::now();
        paces.limited("a", now, Some(Duration::from_secs(5)));
        assert_eq!(
            paces.reserve("a", now, Duration::from_secs(1)),
            Slot::Later(Duration::from_secs(5))
        );
        let later = now + Duration::from_secs(2);
        assert_eq!(
            paces.reserve("a", later, Duration::from_secs(1)),
            Slot::Later(Duration::from_secs(3))
        );
        assert_eq!(paces.reserve("a", later, LONG), Slot::After(Duration::from_secs(3)));
        assert_eq!(paces.reserve("b", now, NO_WAIT), Slot::After(Duration::ZERO));
    }

    #[test]
    fn a_slot_not_taken_is_left_for_the_next_send() {
        let paces = AppPaces::default();
        let now = Instant::now();
        paces.accepted("a", now);
        paces.limited("a", now, None); // CUT/s after one acceptance in the window
        assert_eq!(paces.reserve("a", now, NO_WAIT), Slot::After(Duration::ZERO));
        let gap = Duration::from_secs_f64(1.0 / CUT);
        assert_eq!(paces.reserve("a", now, NO_WAIT), Slot::Later(gap));
        assert_eq!(
            paces.reserve("a", now, NO_WAIT),
            Slot::Later(gap),
            "the refusal took nothing"
        );
    }
}
