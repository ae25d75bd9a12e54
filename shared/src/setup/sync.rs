//! What `bridgectl webhooks sync` changes for one app: given the app's webhooks at Sinch and
//! the one webhook the deployment needs, the single create or patch that makes them agree.
//! Pure: the CLI fetches, plans, prints (`--dry-run`) and applies. Webhooks with other targets
//! are never touched, so other integrations of the app keep working.

use std::collections::BTreeSet;

use crate::protocol::secret::SecretString;
use crate::setup::management::Webhook;

/// Sinch's limit of webhooks per app.
pub const MAX_WEBHOOKS_PER_APP: usize = 5;
/// Sinch's limit on a webhook target's length.
pub const MAX_TARGET_CHARS: usize = 742;

/// The webhook an app must have.
#[derive(Debug, Clone)]
pub struct Desired {
    pub app_id: String,
    pub target: String,
    pub secret: Option<SecretString>,
    pub triggers: BTreeSet<String>,
}

/// One app's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// The webhook exists as it should.
    Unchanged {
        id: String,
    },
    Create(Webhook),
    /// `mask` names what differs (`secret`, `triggers`, `target_type`); `added` and `removed`
    /// are the trigger changes, for the diff.
    Update {
        webhook: Webhook,
        mask: Vec<&'static str>,
        added: Vec<String>,
        removed: Vec<String>,
    },
    /// No webhook targets us and the app already has the most Sinch allows.
    LimitReached {
        existing: usize,
    },
    /// The target is longer than Sinch accepts.
    TargetTooLong {
        chars: usize,
    },
    /// Several webhooks target the deployment (each callback would arrive twice).
    Duplicates {
        ids: Vec<String>,
    },
}

impl Plan {
    pub fn changes_something(&self) -> bool {
        matches!(self, Plan::Create(_) | Plan::Update { .. })
    }

    /// One line for people: what would change, never a secret.
    pub fn describe(&self) -> String {
        match self {
            Plan::Unchanged { id } => format!("unchanged (webhook {id})"),
            Plan::Create(w) => format!("create webhook -> {} ({} triggers)", w.target, w.triggers.len()),
            Plan::Update {
                webhook,
                mask,
                added,
                removed,
            } => {
                let mut parts = vec![format!("update webhook {}: {}", webhook.id, mask.join(", "))];
                if !added.is_empty() {
                    parts.push(format!("+{}", added.join(" +")));
                }
                if !removed.is_empty() {
                    parts.push(format!("-{}", removed.join(" -")));
                }
                parts.join(" ")
            }
            Plan::LimitReached { existing } => format!(
                "cannot add: the app has {existing} webhooks (Sinch allows {MAX_WEBHOOKS_PER_APP}) and none targets this deployment; delete one in the dashboard"
            ),
            Plan::TargetTooLong { chars } => {
                format!("cannot add: the target has {chars} characters (Sinch allows {MAX_TARGET_CHARS})")
            }
            Plan::Duplicates { ids } => format!(
                "{} webhooks target this deployment ({}); delete all but one in the dashboard, then sync again",
                ids.len(),
                ids.join(", ")
            ),
        }
    }
}

/// The webhook URL of `service` under `base`: the deployment's root
/// (`https://x.execute-api…amazonaws.com`) or its `WebhookBaseUrl` output (`…/webhooks/`).
pub fn webhook_target(base: &str, service: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/webhooks") {
        format!("{base}/{service}")
    } else {
        format!("{base}/webhooks/{service}")
    }
}

/// Same target, ignoring one trailing slash: Sinch compares targets as given, and a base URL
/// typed with or without the slash should not create a second webhook.
pub fn same_target(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

pub fn plan(existing: &[Webhook], desired: &Desired) -> Plan {
    let chars = desired.target.chars().count();
    if chars > MAX_TARGET_CHARS {
        return Plan::TargetTooLong { chars };
    }
    let matching: Vec<&Webhook> = existing
        .iter()
        .filter(|w| same_target(&w.target, &desired.target))
        .collect();
    if matching.len() > 1 {
        return Plan::Duplicates {
            ids: matching.iter().map(|w| w.id.clone()).collect(),
        };
    }
    let Some(current) = matching.first().copied() else {
        if existing.len() >= MAX_WEBHOOKS_PER_APP {
            return Plan::LimitReached {
                existing: existing.len(),
            };
        }
        return Plan::Create(Webhook {
            id: String::new(),
            app_id: desired.app_id.clone(),
            target: desired.target.clone(),
            target_type: "HTTP".into(),
            secret: desired.secret.clone(),
            triggers: desired.triggers.iter().cloned().collect(),
        });
    };
    let have: BTreeSet<String> = current.triggers.iter().cloned().collect();
    let added: Vec<String> = desired.triggers.difference(&have).cloned().collect();
    let removed: Vec<String> = have.difference(&desired.triggers).cloned().collect();
    let mut mask = Vec::new();
    if current.target_type != "HTTP" {
        mask.push("target_type");
    }
    let secret_differs = match (&current.secret, &desired.secret) {
        (Some(a), Some(b)) => a.expose() != b.expose(),
        (None, None) => false,
        _ => true,
    };
    if secret_differs {
        mask.push("secret");
    }
    if !added.is_empty() || !removed.is_empty() {
        mask.push("triggers");
    }
    if mask.is_empty() {
        return Plan::Unchanged { id: current.id.clone() };
    }
    Plan::Update {
        webhook: Webhook {
            id: current.id.clone(),
            app_id: current.app_id.clone(),
            target: current.target.clone(),
            target_type: "HTTP".into(),
            secret: desired.secret.clone(),
            triggers: desired.triggers.iter().cloned().collect(),
        },
        mask,
        added,
        removed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(id: &str, target: &str, secret: Option<&str>, triggers: &[&str]) -> Webhook {
        Webhook {
            id: id.into(),
            app_id: "APP".into(),
            target: target.into(),
            target_type: "HTTP".into(),
            secret: secret.map(SecretString::new),
            triggers: triggers.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn desired(secret: &str, triggers: &[&str]) -> Desired {
        Desired {
            app_id: "APP".into(),
            target: "https://api/webhooks/eu1".into(),
            secret: Some(SecretString::new(secret)),
            triggers: triggers.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn creates_when_nothing_targets_us_and_leaves_other_targets_alone() {
        let others = vec![hook("o1", "https://crm/hook", Some("x"), &["MESSAGE_INBOUND"])];
        let Plan::Create(w) = plan(&others, &desired("s", &["MESSAGE_DELIVERY"])) else {
            panic!("expected a create")
        };
        assert_eq!(
            (w.target.as_str(), w.target_type.as_str()),
            ("https://api/webhooks/eu1", "HTTP")
        );
    }

    #[test]
    fn patches_only_what_differs_and_nothing_when_equal() {
        let ours = vec![hook(
            "w1",
            "https://api/webhooks/eu1/",
            Some("old"),
            &["MESSAGE_DELIVERY"],
        )];
        match plan(&ours, &desired("new", &["MESSAGE_DELIVERY", "MESSAGE_INBOUND"])) {
            Plan::Update {
                mask, added, removed, ..
            } => {
                assert_eq!(mask, vec!["secret", "triggers"]);
                assert_eq!((added, removed), (vec!["MESSAGE_INBOUND".to_owned()], vec![]));
            }
            other => panic!("{other:?}"),
        }
        let same = plan(&ours, &desired("old", &["MESSAGE_DELIVERY"]));
        assert_eq!(same, Plan::Unchanged { id: "w1".into() });
    }

    #[test]
    fn respects_the_limit_of_five_and_the_target_length() {
        let full: Vec<Webhook> = (0..5)
            .map(|i| hook(&format!("o{i}"), &format!("https://other/{i}"), None, &[]))
            .collect();
        assert_eq!(plan(&full, &desired("s", &[])), Plan::LimitReached { existing: 5 });
        // An app at the limit whose webhook already targets us is still updated.
        let mut with_ours = full[..4].to_vec();
        with_ours.push(hook("w1", "https://api/webhooks/eu1", Some("old"), &[]));
        assert!(plan(&with_ours, &desired("new", &[])).changes_something());
        let mut long = desired("s", &[]);
        long.target = format!("https://api/{}", "x".repeat(740));
        assert!(matches!(plan(&[], &long), Plan::TargetTooLong { .. }));
    }

    #[test]
    fn targets_are_built_from_the_root_or_the_webhook_base() {
        for base in [
            "https://x.example",
            "https://x.example/",
            "https://x.example/webhooks",
            "https://x.example/webhooks/",
        ] {
            assert_eq!(webhook_target(base, "eu1"), "https://x.example/webhooks/eu1", "{base}");
        }
    }

    #[test]
    fn descriptions_never_hold_the_secret() {
        let ours = vec![hook("w1", "https://api/webhooks/eu1", Some("old-canary-1"), &[])];
        let text = plan(&ours, &desired("new-canary-2", &["OPT_IN"])).describe();
        assert!(!text.contains("canary") && text.contains("secret"), "{text}");
        let twice = vec![ours[0].clone(), hook("w2", "https://api/webhooks/eu1/", None, &[])];
        assert!(matches!(plan(&twice, &desired("s", &[])), Plan::Duplicates { ids } if ids.len() == 2));
    }
}
