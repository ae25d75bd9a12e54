use super::*;
use crate::testing::{ManualClock, MemorySecrets};

const NAME: &str = "sinch-bridge/services/eu1";

fn service_json(webhook_secret: &str) -> String {
    format!(r#"{{"region":"eu","project_id":"p","key_id":"k","key_secret":"s","webhook_secret":"{webhook_secret}"}}"#)
}

fn setup() -> (MemorySecrets, Arc<ManualClock>, ServiceCache<MemorySecrets>) {
    let store = MemorySecrets::default();
    store.put(NAME, Stage::Current, &service_json("one"));
    let clock = ManualClock::new(1_700_000_000);
    let config = ServiceCacheConfig {
        prefix: "sinch-bridge/services/".into(),
        ttl: Duration::from_secs(300),
        refresh_min_interval: Duration::from_secs(30),
    };
    let dir = ServiceCache::new(store.clone(), clock.clone(), config);
    (store, clock, dir)
}

fn secrets(v: &ServiceVersions) -> Vec<String> {
    v.webhook_secrets("APP")
        .iter()
        .map(|s| s.secret().expose().to_owned())
        .collect()
}

#[tokio::test]
async fn warm_lookups_make_one_fetch_per_ttl() {
    let (store, clock, dir) = setup();
    for _ in 0..50 {
        assert!(dir.get("eu1").await.is_ok());
    }
    assert_eq!(store.fetch_count(), 1);
    clock.advance(Duration::from_secs(299));
    assert!(dir.get("eu1").await.is_ok());
    assert_eq!(store.fetch_count(), 1);
    clock.advance(Duration::from_secs(2));
    assert!(dir.get("eu1").await.is_ok());
    assert_eq!(store.fetch_count(), 2);
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let (store, _clock, dir) = setup();
    let lookups = (0..20).map(|_| dir.get("eu1"));
    let results = futures::future::join_all(lookups).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(store.fetch_count(), 1);
}

#[tokio::test]
async fn unknown_service_is_not_found() {
    let (_store, _clock, dir) = setup();
    assert_eq!(dir.get("nope").await.err(), Some(ServiceCacheError::NotFound));
}

#[tokio::test]
async fn serves_stale_value_when_store_is_down_and_unavailable_without_one() {
    let (store, clock, dir) = setup();
    assert!(dir.get("eu1").await.is_ok());
    store.set_down(true);
    clock.advance(Duration::from_secs(3600));
    let stale = dir.get("eu1").await.map(|v| secrets(&v));
    assert_eq!(stale, Ok(vec!["one".to_owned()]));
    let cold = dir.get("other").await;
    assert!(matches!(cold, Err(ServiceCacheError::Unavailable(_))), "{cold:?}");
}

#[tokio::test]
async fn mismatch_refresh_loads_pending_and_previous_once_per_interval() {
    let (store, clock, dir) = setup();
    assert!(dir.get("eu1").await.is_ok());
    store.put(NAME, Stage::Pending, &service_json("two"));
    let refreshed = dir
        .refresh_after_mismatch("eu1")
        .await
        .map(|r| (r.fetched, secrets(&r.versions)));
    assert_eq!(refreshed, Some((true, vec!["one".to_owned(), "two".to_owned()])));
    let fetches = store.fetch_count();
    let again = dir
        .refresh_after_mismatch("eu1")
        .await
        .map(|r| (r.fetched, secrets(&r.versions)));
    assert_eq!(
        again,
        Some((false, vec!["one".to_owned(), "two".to_owned()])),
        "rate limited: the cache, no fetch"
    );
    assert_eq!(store.fetch_count(), fetches, "no fetch while rate limited");
    // The pending version is served from cache now.
    assert_eq!(
        dir.get("eu1").await.map(|v| secrets(&v)),
        Ok(vec!["one".into(), "two".into()])
    );
    clock.advance(Duration::from_secs(31));
    assert_eq!(dir.refresh_after_mismatch("eu1").await.map(|r| r.fetched), Some(true));
}

#[tokio::test]
async fn rotated_versions_expire_after_one_ttl() {
    let (store, clock, dir) = setup();
    assert!(dir.get("eu1").await.is_ok());
    store.put(NAME, Stage::Previous, &service_json("zero"));
    assert!(dir.refresh_after_mismatch("eu1").await.is_some());
    clock.advance(Duration::from_secs(301));
    assert_eq!(dir.get("eu1").await.map(|v| secrets(&v)), Ok(vec!["one".into()]));
}

#[tokio::test]
async fn broken_new_value_keeps_the_cached_service() {
    let (store, clock, dir) = setup();
    assert!(dir.get("eu1").await.is_ok());
    store.put(NAME, Stage::Current, "{broken");
    clock.advance(Duration::from_secs(301));
    assert_eq!(dir.get("eu1").await.map(|v| secrets(&v)), Ok(vec!["one".into()]));
    let (store2, _c, dir2) = setup();
    store2.put(NAME, Stage::Current, "{broken");
    assert!(matches!(dir2.get("eu1").await, Err(ServiceCacheError::Invalid(_))));
}

#[test]
fn webhook_secrets_prefer_app_override_and_skip_repeats() {
    let with_app = MessagingService::from_json(
        "s",
        br#"{"region":"eu","project_id":"p","key_id":"k","key_secret":"s","webhook_secret":"base","apps":{"APP":{"webhook_secret":"app"}}}"#,
    );
    let plain = MessagingService::from_json("s", service_json("base").as_bytes());
    let (Ok(a), Ok(b)) = (with_app, plain) else {
        panic!("fixtures parse")
    };
    let v = ServiceVersions {
        current: Arc::new(a),
        others: vec![Arc::new(b.clone()), Arc::new(b)],
    };
    assert_eq!(secrets(&v), vec!["app".to_owned(), "base".to_owned()]);
}

#[tokio::test]
async fn requests_waiting_on_a_reload_see_what_it_found() {
    let (store, _clock, dir) = setup();
    assert!(dir.get("eu1").await.is_ok());
    store.put(NAME, Stage::Pending, &service_json("two"));
    let (a, b) = tokio::join!(dir.refresh_after_mismatch("eu1"), dir.refresh_after_mismatch("eu1"));
    for r in [a, b] {
        assert_eq!(
            r.map(|r| secrets(&r.versions)),
            Some(vec!["one".to_owned(), "two".to_owned()])
        );
    }
}
