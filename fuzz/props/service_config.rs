//! Properties of the messaging-service parser (`shared/src/protocol/service/mod.rs`), for any
//! input bytes. Shared by the fuzz target `service_config` and the regression replay in
//! `shared/tests/fuzz_regressions.rs`.

use serde_json::Value;
use sinch_bridge::protocol::MessagingService;

const NAME: &str = "svc";

/// Secret strings at least this long are checked against error texts and `Debug` dumps.
const MIN_SECRET: usize = 8;

/// Panics when a property does not hold for `data`.
pub fn check(data: &[u8]) {
    let parsed = MessagingService::from_json(NAME, data);
    assert_eq!(
        parsed,
        MessagingService::from_json(NAME, data),
        "from_json is not deterministic"
    );
    match &parsed {
        Ok(service) => {
            assert_eq!(service.name, NAME, "service name");
            assert!(!service.key_secret.is_empty(), "accepted an empty key_secret");
            assert!(
                is_id(&service.project_id),
                "accepted project_id {:?}",
                service.project_id
            );
            assert!(
                !service.key_id.is_empty() && service.key_id.bytes().all(|b| b.is_ascii_graphic() && b != b':'),
                "accepted key_id {:?}",
                service.key_id
            );
            assert!(
                service.apps.keys().all(|id| is_id(id)),
                "accepted an app id outside [A-Za-z0-9_-]{{1,64}}"
            );
            assert!(
                service.webhook_secret.is_some()
                    || service.allow_unsigned_webhooks
                    || service.apps.values().any(|a| a.webhook_secret.is_some()),
                "accepted a service that can verify nothing and does not allow unsigned webhooks"
            );
            assert!(
                service.webhook_secret.as_ref().is_none_or(|s| !s.is_empty()),
                "accepted an empty webhook_secret as a secret"
            );
        }
        Err(error) => assert_eq!(error.service, NAME, "error names another service"),
    }
    no_secret_shown(data, &shown(&parsed));
}

/// What a caller can print: the error text, or the `Debug` dump of the service.
fn shown(parsed: &Result<MessagingService, sinch_bridge::protocol::ServiceConfigError>) -> String {
    match parsed {
        Ok(service) => format!("{service:?}"),
        Err(error) => error.to_string(),
    }
}

/// Neither an error nor a `Debug` dump holds `webhook_secret`, `key_secret`, `password` or an
/// app's `webhook_secret`. A secret can match other text by coincidence (an app id is quoted
/// in a field path, a project id or SMS sender is printed, the fixed phrases), so when one
/// shows up, the same document with every secret blanked must still show it.
fn no_secret_shown(data: &[u8], shown_text: &str) {
    let Ok(mut root) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let secrets = secret_values(&mut root, None);
    let leaked: Vec<String> = secrets
        .iter()
        .filter(|s| shown_text.contains(s.as_str()))
        .cloned()
        .collect();
    if leaked.is_empty() {
        return;
    }
    // The control run: the re-serialised document must read the same (duplicate keys, for
    // one, do not survive the round trip), else the comparison says nothing.
    let Ok(canonical) = serde_json::to_vec(&root) else {
        return;
    };
    if shown(&MessagingService::from_json(NAME, &canonical)) != shown_text {
        return;
    }
    let Some(filler) = ['#', '~', '^', '*', '!', '|', '%', '\u{b7}', '\u{2603}']
        .into_iter()
        .find(|c| secrets.iter().all(|s| !s.contains(*c)))
    else {
        return;
    };
    secret_values(&mut root, Some(filler));
    let Ok(blanked) = serde_json::to_vec(&root) else {
        return;
    };
    let again = shown(&MessagingService::from_json(NAME, &blanked));
    for secret in leaked {
        assert!(
            again.contains(&secret),
            "a secret is shown: {shown_text:?} (with secrets blanked: {again:?})"
        );
    }
}

/// The secret strings of at least `MIN_SECRET` bytes; with `filler`, each is replaced by
/// `filler` repeated as many times as it had chars (non-empty stays non-empty).
fn secret_values(root: &mut Value, filler: Option<char>) -> Vec<String> {
    let mut out = Vec::new();
    let mut visit = |value: Option<&mut Value>| {
        if let Some(Value::String(s)) = value
            && s.len() >= MIN_SECRET
        {
            out.push(s.clone());
            if let Some(c) = filler {
                *s = c.to_string().repeat(s.chars().count());
            }
        }
    };
    for key in ["webhook_secret", "key_secret", "password"] {
        visit(root.get_mut(key));
    }
    if let Some(Value::Object(apps)) = root.get_mut("apps") {
        for app in apps.values_mut() {
            visit(app.get_mut("webhook_secret"));
        }
    }
    out
}

/// `service::is_id`: what project and app ids must be.
fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}
