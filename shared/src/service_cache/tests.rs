use super::*;
use crate::testing::{CREATED, ManualClock, MemorySecrets};

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
        ..ServiceCacheConfig::default()
    };
    let dir = ServiceCache::new(store.clone(), clock.clone(), config);
    (store, clock, dir)
}

/// The secrets that may sign for app `APP` at the clock's start.
fn secrets(v: &ServiceVersions) -> Vec<String> {
    secrets_at(v, CREATED)
}

fn secrets_at(v: &ServiceVersions, now: i64) -> Vec<String> {
    v.webhook_secrets("APP", now)
        .iter()
        .map(|c| c.secret.secret().expose().to_owned())
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
    assert_eq!(refreshed, Ok((true, vec!["one".to_owned(), "two".to_owned()])));
    let fetches = store.fetch_count();
    let again = dir
        .refresh_after_mismatch("eu1")
        .await
        .map(|r| (r.fetched, secrets(&r.versions)));
    assert_eq!(
        again,
        Ok((false, vec!["one".to_owned(), "two".to_owned()])),
        "rate limited: the cache, no fetch"
    );
    assert_eq!(store.fetch_count(), fetches, "no fetch while rate limited");
    // The pending version is served from cache now.
    assert_eq!(
        dir.get("eu1").await.map(|v| secrets(&v)),
        Ok(vec!["one".into(), "two".into()])
    );
    clock.advance(Duration::from_secs(31));
    assert_eq!(dir.refresh_after_mismatch("eu1").await.map(|r| r.fetched), Ok(true));
}

#[tokio::test]
async fn rotated_versions_expire_after_one_ttl() {
    let (store, clock, dir) = setup();
    assert!(dir.get("eu1").await.is_ok());
    store.put(NAME, Stage::Previous, &service_json("zero"));
    assert!(dir.refresh_after_mismatch("eu1").await.is_ok());
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
    let v = ServiceVersions::current_only(Arc::new(a)).with_pending(PendingVersion {
        service: Arc::new(b),
        until: CREATED + 1,
    });
    assert_eq!(secrets(&v), vec!["app".to_owned(), "base".to_owned()]);
    let kinds: Vec<SecretKind> = v.webhook_secrets("APP", CREATED).iter().map(|c| c.kind).collect();
    assert_eq!(kinds, vec![SecretKind::App, SecretKind::Pending]);
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
            Ok(vec!["one".to_owned(), "two".to_owned()])
        );
    }
}

fn version(value: &str, id: &str, created: i64) -> SecretVersion {
    SecretVersion::text(value, id, created)
}

#[tokio::test]
async fn a_retired_secret_signs_until_the_time_the_current_version_gives_it_and_never_after() {
    let (store, clock, cache) = setup();
    let retired = format!(
        r#"{{"region":"eu","project_id":"p","key_id":"k","key_secret":"s","webhook_secret":"two","retired_webhook_secrets":[{{"secret":"one","until":{}}}]}}"#,
        CREATED + 3600
    );
    store.put_version(NAME, Stage::Current, version(&retired, "v2", CREATED));
    let now = clock.unix_seconds();
    let v = cache.get("eu1").await;
    assert_eq!(v.map(|v| secrets_at(&v, now)), Ok(vec!["two".into(), "one".into()]));
    // The version before is labelled AWSPREVIOUS: that label is trusted for nothing.
    store.put_version(NAME, Stage::Previous, version(&service_json("zero"), "v1", CREATED));
    let r = cache.refresh_after_mismatch("eu1").await;
    assert_eq!(
        r.map(|r| secrets_at(&r.versions, now)),
        Ok(vec!["two".into(), "one".into()])
    );
    // At its time, however many refreshes run.
    for _ in 0..3 {
        clock.advance(Duration::from_secs(1800));
        let r = cache.refresh_after_mismatch("eu1").await;
        let now = clock.unix_seconds();
        let expected: Vec<String> = if now < CREATED + 3600 {
            vec!["two".into(), "one".into()]
        } else {
            vec!["two".into()]
        };
        assert_eq!(r.map(|r| secrets_at(&r.versions, now)), Ok(expected));
    }
}

#[tokio::test]
async fn an_abandoned_pending_secret_stops_signing_after_its_max_age() {
    let (store, clock, cache) = setup();
    store.put_version(NAME, Stage::Current, version(&service_json("one"), "v1", CREATED));
    store.put_version(NAME, Stage::Pending, version(&service_json("two"), "v2", CREATED + 10));
    assert!(cache.get("eu1").await.is_ok());
    let r = cache.refresh_after_mismatch("eu1").await;
    assert_eq!(r.map(|r| secrets(&r.versions)), Ok(vec!["one".into(), "two".into()]));
    let max_age = cache.config().pending_max_age;
    clock.advance(max_age + Duration::from_secs(11));
    let r = cache.refresh_after_mismatch("eu1").await;
    let now = clock.unix_seconds();
    assert_eq!(
        r.map(|r| (r.fetched, secrets_at(&r.versions, now))),
        Ok((true, vec!["one".into()]))
    );
}

#[tokio::test]
async fn a_pending_label_on_the_current_version_adds_nothing() {
    let (store, _clock, cache) = setup();
    store.put_version(NAME, Stage::Current, version(&service_json("two"), "v2", CREATED));
    store.put_version(NAME, Stage::Pending, version(&service_json("two"), "v2", CREATED));
    assert!(cache.get("eu1").await.is_ok());
    let r = cache.refresh_after_mismatch("eu1").await;
    assert_eq!(r.map(|r| r.versions.pending().is_none()), Ok(true));
}

#[tokio::test]
async fn a_refresh_that_fails_is_an_error_and_does_not_use_up_the_interval() {
    let (store, clock, cache) = setup();
    assert!(cache.get("eu1").await.is_ok());
    store.put(NAME, Stage::Pending, &service_json("two"));
    store.set_down(true);
    let failed = cache.refresh_after_mismatch("eu1").await;
    assert!(matches!(failed, Err(ServiceCacheError::Unavailable(_))), "{failed:?}");
    store.set_down(false);
    // Within the failure hold, requests are answered at once without calling the store.
    let fetches = store.fetch_count();
    assert!(cache.refresh_after_mismatch("eu1").await.is_err());
    assert_eq!(store.fetch_count(), fetches);
    // After it, the next mismatch refreshes (the interval was not spent on the failure).
    clock.advance(cache.config().failure_hold);
    let r = cache.refresh_after_mismatch("eu1").await;
    assert_eq!(
        r.map(|r| (r.fetched, secrets(&r.versions))),
        Ok((true, vec!["one".into(), "two".into()]))
    );
}

#[tokio::test]
async fn a_failed_fetch_is_remembered_so_requests_do_not_each_wait_for_the_store() {
    let (store, clock, cache) = setup();
    assert!(cache.get("eu1").await.is_ok());
    store.set_down(true);
    clock.advance(Duration::from_secs(301));
    assert!(cache.get("eu1").await.is_ok(), "stale value served");
    let fetches = store.fetch_count();
    for _ in 0..20 {
        assert!(cache.get("eu1").await.is_ok());
    }
    assert_eq!(store.fetch_count(), fetches, "no store call during the hold");
    clock.advance(cache.config().failure_hold);
    assert!(cache.get("eu1").await.is_ok());
    assert_eq!(store.fetch_count(), fetches + 1, "one attempt after the hold");
}

#[tokio::test]
async fn a_secret_without_a_string_is_misconfigured_not_missing() {
    let (store, _clock, cache) = setup();
    let mut binary = version("", "vb", CREATED);
    binary.value = None;
    store.put_version(NAME, Stage::Current, binary);
    assert!(matches!(cache.get("eu1").await, Err(ServiceCacheError::Invalid(_))));
}

#[tokio::test]
async fn a_secret_that_does_not_parse_is_held_too_so_forged_requests_cost_no_store_calls() {
    let (store, clock, cache) = setup();
    store.put(NAME, Stage::Current, "{broken");
    assert!(matches!(cache.get("eu1").await, Err(ServiceCacheError::Invalid(_))));
    let fetches = store.fetch_count();
    for _ in 0..10 {
        assert!(matches!(cache.get("eu1").await, Err(ServiceCacheError::Invalid(_))));
    }
    assert_eq!(store.fetch_count(), fetches);
    store.put(NAME, Stage::Current, &service_json("one"));
    clock.advance(cache.config().failure_hold);
    assert!(cache.get("eu1").await.is_ok(), "fixed: read again after the hold");
}
