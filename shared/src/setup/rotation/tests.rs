//! The rotation's scenarios on in-memory Secrets Manager and Sinch doubles and a manual clock,
//! each in every way Sinch may show secrets back (in full, masked, not at all), with the
//! ingest's own cache and verification deciding which callbacks are accepted.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::Clock;
use crate::ingest::{Ingest, IngestConfig, WebhookRequest};
use crate::metrics::Metrics;
use crate::ports::Stage;
use crate::protocol::{SecretString, sign};
use crate::service_cache::{ServiceCache, ServiceCacheConfig};
use crate::setup::webhooks::Deployment;
use crate::testing::{
    ManualClock, MemoryQueues, MemorySecretAdmin, MemorySightings, MemoryWebhooks, ReadMode, SightingNonces,
};

const START: i64 = 1_800_000_000;
const NAME: &str = "sinch-bridge/services/svc";
const BASE: &str = "https://api.example/webhooks/";
const TARGET: &str = "https://api.example/webhooks/svc";
const GRACE: Duration = Duration::from_secs(86_400);
const OLD: &str = "old-secret";

fn service_json(extra: &str) -> String {
    format!(
        r#"{{"region":"eu","project_id":"P","key_id":"k","key_secret":"ks","webhook_secret":"{OLD}","apps":{{"A1":{{}},"A2":{{}}}}{extra}}}"#
    )
}

struct World {
    clock: Arc<ManualClock>,
    secrets: MemorySecretAdmin,
    webhooks: MemoryWebhooks,
    sightings: MemorySightings,
    rotation: Rotation<MemorySecretAdmin, MemoryWebhooks, MemorySightings>,
    ingest: Ingest<MemorySecretAdmin, MemoryQueues, SightingNonces>,
    nonce: std::sync::atomic::AtomicUsize,
}

fn world(mode: ReadMode) -> World {
    let clock = ManualClock::new(START);
    let secrets = MemorySecretAdmin::new(NAME, &service_json(""), clock.clone());
    let webhooks = MemoryWebhooks::new(mode);
    webhooks.seed("A1", TARGET, Some(OLD));
    webhooks.seed("A2", TARGET, Some(OLD));
    let sightings = MemorySightings::default();
    let config = RotationConfig {
        prefix: "sinch-bridge/services/".into(),
        webhook_base_url: Some(BASE.into()),
        refresh_wait: Duration::ZERO,
        grace: GRACE,
        pending_max_age: Duration::from_secs(86_400),
        auth_url: String::new(),
        api_base_override: None,
        sightings_table: Some("t".into()),
    };
    let rotation = Rotation::new(
        secrets.clone(),
        Arc::new(webhooks.clone()),
        Some(sightings.clone()),
        config,
        clock.clone(),
        || Ok("new-secret".to_owned()),
    );
    let cache = ServiceCacheConfig {
        refresh_min_interval: Duration::ZERO,
        ..ServiceCacheConfig::default()
    };
    let ingest = Ingest::new(
        Arc::new(ServiceCache::new(secrets.clone(), clock.clone(), cache)),
        MemoryQueues::default(),
        clock.clone(),
        IngestConfig {
            events_queue_url: "q".into(),
            tolerance_seconds: 86_400,
            ..IngestConfig::default()
        },
        Metrics::discard("test"),
    )
    .with_nonce_store(SightingNonces::new(sightings.clone()));
    World {
        clock,
        secrets,
        webhooks,
        sightings,
        rotation,
        ingest,
        nonce: Default::default(),
    }
}

impl World {
    async fn step(&self, step: Step, token: &str) -> Result<StepOutcome, RotationError> {
        self.rotation
            .run(&RotationEvent {
                step,
                secret_id: NAME.into(),
                token: token.into(),
                rotation_token: None,
            })
            .await
    }

    async fn rotate(&self, token: &str) {
        self.secrets.start_rotation(token).unwrap_or_else(|e| panic!("{e}"));
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            self.step(step, token).await.unwrap_or_else(|e| panic!("{step}: {e}"));
        }
    }

    /// A callback signed with `secret` now, as Sinch would send it: accepted by the ingest?
    async fn accepts(&self, secret: &str) -> bool {
        let n = self.nonce.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let body = format!(r#"{{"app_id":"A1","message":{{"id":"m{n}"}}}}"#);
        let signed = sign(
            &SecretString::new(secret),
            body.as_bytes(),
            &format!("nonce-{n}"),
            self.clock.unix_seconds(),
        );
        let headers: Vec<(&str, &[u8])> = signed.pairs().iter().map(|(k, v)| (*k, v.as_bytes())).collect();
        self.ingest
            .handle(&WebhookRequest {
                service: "svc",
                headers: &headers,
                body: body.as_bytes(),
            })
            .await
            .is_ok()
    }

    fn current(&self) -> crate::protocol::service::MessagingService {
        let text = self.secrets.value_at(Stage::Current).unwrap_or_default();
        crate::protocol::service::MessagingService::from_json("svc", text.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn signing_secrets(&self) -> Vec<Option<String>> {
        self.webhooks
            .all()
            .iter()
            .map(|w| self.webhooks.secret_of(&w.id))
            .collect()
    }

    fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }

    /// What an operator's edit does (an app added): the document edited, everything else kept.
    async fn edit_adding_app(&self, app: &str) {
        let text = SecretString::new(self.secrets.value_at(Stage::Current).unwrap_or_default());
        let (mut doc, _) =
            crate::setup::service_document::ServiceDocument::parse("svc", &text).unwrap_or_else(|e| panic!("{e}"));
        doc.record_webhook(
            app,
            &crate::protocol::service::WebhookRecord {
                id: "none".into(),
                target: "https://elsewhere".into(),
                secret_fingerprint: None,
            },
        );
        let (value, _) = doc.to_secret().unwrap_or_else(|e| panic!("{e}"));
        self.secrets
            .put_current(NAME, &value)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[tokio::test]
async fn a_rotation_switches_only_our_webhooks_and_refuses_nothing_in_every_read_mode() {
    for mode in ReadMode::ALL {
        let w = world(mode);
        let other = w.webhooks.seed("A1", "https://crm.example/hook", Some(OLD));
        w.secrets.start_rotation("t1").unwrap_or_else(|e| panic!("{e}"));
        for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
            assert!(
                w.accepts(OLD).await && w.accepts("new-secret").await || step == Step::Create,
                "{mode:?} before {step}"
            );
            w.step(step, "t1")
                .await
                .unwrap_or_else(|e| panic!("{mode:?} {step}: {e}"));
        }
        assert!(w.accepts("new-secret").await, "{mode:?}");
        assert!(
            w.accepts(OLD).await,
            "{mode:?}: the old secret keeps verifying for the grace"
        );
        let current = w.current();
        assert_eq!(
            current
                .webhook_secret
                .map(|s| s.secret().expose().to_owned())
                .as_deref(),
            Some("new-secret")
        );
        assert_eq!(current.retired.len(), 1, "{mode:?}");
        assert_eq!(current.rotation.map(|r| r.token).as_deref(), Some("t1"));
        assert_eq!(w.secrets.value_at(Stage::Pending), None, "{mode:?}: no AWSPENDING left");
        assert_eq!(
            w.webhooks.secret_of(&other).as_deref(),
            Some(OLD),
            "{mode:?}: another target is left alone"
        );
        let ours: Vec<String> = w
            .webhooks
            .all()
            .iter()
            .filter(|h| h.target == TARGET)
            .filter_map(|h| w.webhooks.secret_of(&h.id))
            .collect();
        assert_eq!(ours, vec!["new-secret".to_owned(); 2], "{mode:?}");
    }
}

#[tokio::test]
async fn the_old_secret_verifies_for_the_grace_after_the_switch_even_when_the_service_is_edited_then_stops() {
    for mode in ReadMode::ALL {
        let w = world(mode);
        w.rotate("t1").await;
        w.advance(15 * 60);
        w.edit_adding_app("A3").await;
        assert!(
            w.accepts(OLD).await,
            "{mode:?}: an edit 15 minutes later does not revoke it"
        );
        w.advance(GRACE.as_secs() - 15 * 60 - 1);
        assert!(w.accepts(OLD).await, "{mode:?}: still inside the grace");
        w.advance(2);
        assert!(!w.accepts(OLD).await, "{mode:?}: refused once the grace is over");
        assert!(w.accepts("new-secret").await);
    }
}

#[tokio::test]
async fn a_finish_three_hours_late_still_gives_the_old_secret_its_full_grace() {
    let w = world(ReadMode::Masked);
    w.secrets.start_rotation("t1").unwrap_or_else(|e| panic!("{e}"));
    for step in [Step::Create, Step::Set, Step::Test] {
        w.step(step, "t1").await.unwrap_or_else(|e| panic!("{e}"));
    }
    w.advance(3 * 3600);
    w.step(Step::Finish, "t1").await.unwrap_or_else(|e| panic!("{e}"));
    w.advance(GRACE.as_secs() - 1);
    assert!(
        w.accepts(OLD).await,
        "a full grace after the switch, and after the late finish"
    );
    w.advance(2);
    assert!(!w.accepts(OLD).await);
}

#[tokio::test]
async fn steps_repeated_or_out_of_order_change_nothing_twice() {
    let w = world(ReadMode::Masked);
    w.rotate("t1").await;
    let versions = w.secrets.describe(NAME).await.unwrap_or_else(|e| panic!("{e}"));
    for step in [Step::Finish, Step::Test, Step::Set, Step::Create, Step::Finish] {
        assert_eq!(w.step(step, "t1").await, Ok(StepOutcome::AlreadyFinished), "{step}");
    }
    assert_eq!(
        w.secrets.describe(NAME).await.unwrap_or_else(|e| panic!("{e}")),
        versions
    );
    // Mid-rotation repeats are idempotent too.
    w.secrets.start_rotation("t2").unwrap_or_else(|e| panic!("{e}"));
    for step in [Step::Create, Step::Create, Step::Set, Step::Set, Step::Test] {
        w.step(step, "t2").await.unwrap_or_else(|e| panic!("{step}: {e}"));
    }
}

#[tokio::test]
async fn an_edit_during_the_rotation_is_kept_by_finish() {
    let w = world(ReadMode::Masked);
    w.secrets.start_rotation("t1").unwrap_or_else(|e| panic!("{e}"));
    w.step(Step::Create, "t1").await.unwrap_or_else(|e| panic!("{e}"));
    w.step(Step::Set, "t1").await.unwrap_or_else(|e| panic!("{e}"));
    w.edit_adding_app("A3").await;
    w.step(Step::Test, "t1").await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(w.step(Step::Finish, "t1").await, Ok(StepOutcome::Done(_))));
    let current = w.current();
    assert!(
        current.apps.contains_key("A3"),
        "the app added during the rotation is kept"
    );
    assert_eq!(
        current
            .webhook_secret
            .map(|s| s.secret().expose().to_owned())
            .as_deref(),
        Some("new-secret")
    );
}

#[tokio::test]
async fn a_rotation_stopped_after_set_is_cancelled_to_one_accepted_secret_and_a_new_one_completes() {
    for mode in ReadMode::ALL {
        let w = world(mode);
        w.secrets.start_rotation("t1").unwrap_or_else(|e| panic!("{e}"));
        w.step(Step::Create, "t1").await.unwrap_or_else(|e| panic!("{e}"));
        w.step(Step::Set, "t1").await.unwrap_or_else(|e| panic!("{e}"));
        w.webhooks.set_down(true);
        assert_eq!(
            w.step(Step::Test, "t1").await.map_err(|e| e.code),
            Err(RotationFailure::Sinch)
        );
        // A new rotation cannot start while this one holds AWSPENDING.
        assert!(w.secrets.start_rotation("t2").is_err());
        let deployment = Deployment {
            base_url: Some(BASE),
            service: "svc",
        };
        // Sinch still down: nothing is removed, the command can be run again.
        assert!(cancel(&w.secrets, &w.webhooks, NAME, "svc", &deployment).await.is_err());
        assert!(w.secrets.value_at(Stage::Pending).is_some());
        w.webhooks.set_down(false);
        let report = cancel(&w.secrets, &w.webhooks, NAME, "svc", &deployment)
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(report.pending_removed, vec!["t1".to_owned()]);
        assert_eq!(
            w.signing_secrets(),
            vec![Some(OLD.to_owned()); 2],
            "{mode:?}: Sinch back on the current secret"
        );
        assert_eq!(w.secrets.value_at(Stage::Pending), None);
        assert!(w.accepts(OLD).await);
        // The cancelled token's steps refuse instead of switching Sinch again.
        assert_eq!(
            w.step(Step::Set, "t1").await.map_err(|e| e.code),
            Err(RotationFailure::UnknownVersion)
        );
        w.rotate("t2").await;
        assert_eq!(w.signing_secrets(), vec![Some("new-secret".to_owned()); 2], "{mode:?}");
    }
}

#[tokio::test]
async fn set_refuses_a_pending_secret_past_its_age_and_says_how_to_start_over() {
    let w = world(ReadMode::Masked);
    w.secrets.start_rotation("t1").unwrap_or_else(|e| panic!("{e}"));
    w.step(Step::Create, "t1").await.unwrap_or_else(|e| panic!("{e}"));
    w.advance(86_400);
    let err = w.step(Step::Set, "t1").await.err();
    assert_eq!(err.as_ref().map(|e| e.code), Some(RotationFailure::PendingExpired));
    assert!(err.is_some_and(|e| e.detail.contains("--cancel")));
    assert_eq!(
        w.signing_secrets(),
        vec![Some(OLD.to_owned()); 2],
        "Sinch was not switched"
    );
}

#[tokio::test]
async fn create_refuses_an_app_without_a_webhook_of_ours_before_changing_anything() {
    let w = world(ReadMode::Masked);
    w.secrets
        .put_current(
            NAME,
            &SecretString::new(service_json("").replace(r#""A2":{}"#, r#""A2":{},"A9":{}"#)),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    w.secrets.start_rotation("t1").unwrap_or_else(|e| panic!("{e}"));
    let err = w.step(Step::Create, "t1").await.err().map(|e| e.code);
    assert_eq!(err, Some(RotationFailure::NoWebhook));
    assert_eq!(w.secrets.value_at(Stage::Pending), None);
    assert!(w.webhooks.patches().is_empty());
}

#[tokio::test]
async fn test_tells_what_sinch_signs_with_from_the_sightings_and_a_quiet_service_is_not_blocked() {
    let w = world(ReadMode::Masked);
    w.secrets.start_rotation("t1").unwrap_or_else(|e| panic!("{e}"));
    w.step(Step::Create, "t1").await.unwrap_or_else(|e| panic!("{e}"));
    w.step(Step::Set, "t1").await.unwrap_or_else(|e| panic!("{e}"));
    let Ok(StepOutcome::Done(quiet)) = w.step(Step::Test, "t1").await else {
        panic!("a quiet service passes")
    };
    assert!(quiet.contains("no stored callback"), "{quiet}");
    assert!(w.accepts("new-secret").await);
    let Ok(StepOutcome::Done(busy)) = w.step(Step::Test, "t1").await else {
        panic!("test")
    };
    assert!(busy.contains("signed 1 stored callback"), "{busy}");
    let _ = &w.sightings;
}

#[tokio::test]
async fn a_shown_webhook_that_kept_another_secret_fails_test() {
    let w = world(ReadMode::Full);
    w.secrets.start_rotation("t1").unwrap_or_else(|e| panic!("{e}"));
    w.step(Step::Create, "t1").await.unwrap_or_else(|e| panic!("{e}"));
    // setSecret never ran: Sinch shows the old secret.
    assert_eq!(
        w.step(Step::Test, "t1").await.map_err(|e| e.code),
        Err(RotationFailure::WebhookNotUpdated)
    );
}

#[test]
fn an_unknown_step_is_refused_when_the_event_is_read() {
    let event = serde_json::json!({"Step": "dropSecret", "SecretId": NAME, "ClientRequestToken": "t"});
    assert!(serde_json::from_value::<RotationEvent>(event).is_err());
    let good = serde_json::json!({"Step": "setSecret", "SecretId": NAME, "ClientRequestToken": "t"});
    assert!(serde_json::from_value::<RotationEvent>(good).is_ok_and(|e| e.step == Step::Set));
}

#[test]
fn a_grace_shorter_than_the_window_is_refused_naming_it() {
    let env = crate::config::map_env(&[("NONCE_TABLE_NAME", "t"), ("PREVIOUS_SECRET_GRACE_SECONDS", "3600")]);
    assert_eq!(
        RotationConfig::from_env(&env).err().map(|e| e.variable),
        Some("PREVIOUS_SECRET_GRACE_SECONDS")
    );
    let fine = RotationConfig::from_env(&crate::config::map_env(&[("NONCE_TABLE_NAME", "t")]));
    assert_eq!(fine.map(|c| c.grace.as_secs()).ok(), Some(86_400));
    let instance = RotationConfig::from_env(&crate::config::map_env(&[]));
    assert_eq!(instance.map(|c| c.grace.as_secs()).ok(), Some(3600));
}
