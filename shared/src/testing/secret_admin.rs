//! Secrets Manager in memory, as inconvenient as the real one where the rotation and the setup
//! commands meet it: labels move as `PutSecretValue` and `UpdateSecretVersionStage` move them
//! (a new `AWSCURRENT` makes the old one `AWSPREVIOUS` and the version before that lose it:
//! AWS Secrets Manager user guide, "Staging labels"), a version without labels is no longer
//! listed by `DescribeSecret` ("Versions that don't have staging labels are considered
//! deprecated"), a `ClientRequestToken` reused with another value is refused
//! (`ResourceExistsException`), removing a label a version does not have is refused, and
//! `RotateSecret` refuses while `AWSPENDING` is on a version other than `AWSCURRENT` (API
//! reference, RotateSecret). It serves reads by stage too, so the ingest's cache can run on it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::clock::Clock;
use crate::ports::{PortError, SecretAdmin, SecretStore, SecretVersion, SecretVersions, Stage};
use crate::protocol::SecretString;

#[derive(Debug, Clone)]
struct Version {
    id: String,
    value: Option<String>,
    created: i64,
    labels: Vec<String>,
}

struct State {
    name: String,
    versions: Vec<Version>,
    rotation_enabled: bool,
    /// Other secrets, read only: name to current value (several services).
    others: std::collections::HashMap<String, String>,
}

/// One secret's versions in memory, with a clock for their creation dates.
#[derive(Clone)]
pub struct MemorySecretAdmin {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    down: Arc<AtomicBool>,
    next_id: Arc<AtomicUsize>,
}

fn unavailable() -> PortError {
    PortError::new("secrets_manager", "switched off")
}

impl MemorySecretAdmin {
    /// Secret `name` with `value` as its first, current version.
    pub fn new(name: &str, value: &str, clock: Arc<dyn Clock>) -> Self {
        let created = clock.unix_seconds();
        Self {
            state: Arc::new(Mutex::new(State {
                name: name.to_owned(),
                versions: vec![Version {
                    id: "v-initial".into(),
                    value: Some(value.to_owned()),
                    created,
                    labels: vec![Stage::Current.label().to_owned()],
                }],
                rotation_enabled: false,
                others: std::collections::HashMap::new(),
            })),
            clock,
            down: Arc::default(),
            next_id: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Another secret, current only and never rotated (another service's).
    pub fn add_secret(&self, name: &str, value: &str) {
        self.lock().others.insert(name.to_owned(), value.to_owned());
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), PortError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(unavailable());
        }
        Ok(())
    }

    /// What `RotateSecret` does before invoking the function: a version for `token` labelled
    /// `AWSPENDING`, with no value yet; refused while another rotation holds `AWSPENDING`.
    pub fn start_rotation(&self, token: &str) -> Result<(), PortError> {
        self.check()?;
        let mut state = self.lock();
        state.rotation_enabled = true;
        let current = state
            .versions
            .iter()
            .find(|v| has(v, Stage::Current))
            .map(|v| v.id.clone());
        if state
            .versions
            .iter()
            .any(|v| has(v, Stage::Pending) && Some(&v.id) != current.as_ref())
        {
            return Err(PortError::new(
                "InvalidRequestException",
                "A previous rotation isn't complete. That rotation will be reattempted.",
            ));
        }
        let created = self.clock.unix_seconds();
        move_label(&mut state.versions, Stage::Pending, token);
        state.versions.push(Version {
            id: token.to_owned(),
            value: None,
            created,
            labels: vec![Stage::Pending.label().to_owned()],
        });
        Ok(())
    }

    /// The value labelled `stage`, for assertions.
    pub fn value_at(&self, stage: Stage) -> Option<String> {
        self.lock()
            .versions
            .iter()
            .find(|v| has(v, stage))
            .and_then(|v| v.value.clone())
    }
}

fn has(version: &Version, stage: Stage) -> bool {
    version.labels.iter().any(|l| l == stage.label())
}

/// Takes `stage` off every version, so it can be put on `to` (a label is on one version).
fn move_label(versions: &mut [Version], stage: Stage, to: &str) {
    for v in versions.iter_mut().filter(|v| v.id != to) {
        v.labels.retain(|l| l != stage.label());
    }
}

impl SecretAdmin for MemorySecretAdmin {
    async fn describe(&self, _secret_id: &str) -> Result<SecretVersions, PortError> {
        self.check()?;
        let state = self.lock();
        Ok(SecretVersions {
            name: state.name.clone(),
            rotation_enabled: state.rotation_enabled,
            stages: state
                .versions
                .iter()
                .filter(|v| !v.labels.is_empty())
                .map(|v| (v.id.clone(), v.labels.clone()))
                .collect(),
        })
    }

    async fn value_of(
        &self,
        _secret_id: &str,
        version_id: &str,
    ) -> Result<Option<(SecretString, Option<i64>)>, PortError> {
        self.check()?;
        let state = self.lock();
        Ok(state.versions.iter().find(|v| v.id == version_id).and_then(|v| {
            v.value
                .as_ref()
                .map(|value| (SecretString::new(value.clone()), Some(v.created)))
        }))
    }

    async fn put_pending(
        &self,
        _secret_id: &str,
        version_id: &str,
        value: &SecretString,
        _rotation_token: Option<&str>,
    ) -> Result<(), PortError> {
        self.check()?;
        let mut state = self.lock();
        let created = self.clock.unix_seconds();
        match state.versions.iter_mut().find(|v| v.id == version_id) {
            Some(v) if v.value.as_deref().is_some_and(|old| old != value.expose()) => {
                return Err(PortError::new(
                    "ResourceExistsException",
                    "a version with this ClientRequestToken already holds another value",
                ));
            }
            Some(v) => v.value = Some(value.expose().to_owned()),
            None => state.versions.push(Version {
                id: version_id.to_owned(),
                value: Some(value.expose().to_owned()),
                created,
                labels: Vec::new(),
            }),
        }
        move_label(&mut state.versions, Stage::Pending, version_id);
        if let Some(v) = state.versions.iter_mut().find(|v| v.id == version_id)
            && !has(v, Stage::Pending)
        {
            v.labels.push(Stage::Pending.label().to_owned());
        }
        Ok(())
    }

    async fn put_current(&self, _secret_id: &str, value: &SecretString) -> Result<String, PortError> {
        self.check()?;
        let id = format!("v-{}", self.next_id.fetch_add(1, Ordering::SeqCst) + 1);
        let created = self.clock.unix_seconds();
        let mut state = self.lock();
        let old = state
            .versions
            .iter()
            .find(|v| has(v, Stage::Current))
            .map(|v| v.id.clone());
        move_label(&mut state.versions, Stage::Current, &id);
        if let Some(old) = old {
            move_label(&mut state.versions, Stage::Previous, &old);
            if let Some(v) = state.versions.iter_mut().find(|v| v.id == old) {
                v.labels.push(Stage::Previous.label().to_owned());
            }
        }
        state.versions.push(Version {
            id: id.clone(),
            value: Some(value.expose().to_owned()),
            created,
            labels: vec![Stage::Current.label().to_owned()],
        });
        Ok(id)
    }

    async fn remove_label(&self, _secret_id: &str, stage: Stage, version_id: &str) -> Result<(), PortError> {
        self.check()?;
        let mut state = self.lock();
        match state.versions.iter_mut().find(|v| v.id == version_id && has(v, stage)) {
            Some(v) => {
                v.labels.retain(|l| l != stage.label());
                Ok(())
            }
            None => Err(PortError::new(
                "InvalidParameterException",
                "the staging label isn't attached to that version",
            )),
        }
    }
}

impl SecretStore for MemorySecretAdmin {
    async fn fetch(&self, name: &str, stage: Stage) -> Result<Option<SecretVersion>, PortError> {
        self.check()
            .map_err(|_| PortError::new("secrets_unavailable", "switched off"))?;
        let state = self.lock();
        if name != state.name {
            let created = state.versions.first().map_or(0, |v| v.created);
            return Ok(state
                .others
                .get(name)
                .filter(|_| stage == Stage::Current)
                .map(|value| SecretVersion::text(value.clone(), format!("v-{name}"), created)));
        }
        Ok(state.versions.iter().find(|v| has(v, stage)).map(|v| SecretVersion {
            value: v.value.clone().map(SecretString::new),
            version_id: v.id.clone(),
            created: Some(v.created),
        }))
    }
}
