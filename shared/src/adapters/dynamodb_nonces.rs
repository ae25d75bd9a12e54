//! [`NonceStore`] over a DynamoDB table every ingest environment shares, and [`Nonces`], the
//! choice between it and the per-environment store that the function makes at start-up.
//!
//! One item per nonce: `nonce` (the key, a hash), `state` (`claimed` or `used`), `claim` (the
//! holder's token) and `expires_at` (Unix seconds, also the table's TTL attribute). DynamoDB's
//! TTL deletes items up to days late, so every condition compares `expires_at` with the clock
//! itself; TTL only keeps the table small.
//!
//! The same table keeps the secrets' sightings (`SightingReader`): one item per service and
//! secret fingerprint, keyed `seen#{service}#{fingerprint}` (a nonce key is 64 hex characters,
//! so the two never meet), with `first_seen`, `last_seen`, `seen_count` and `expires_at` 30
//! days after the last sighting.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::sdk_error::is_condition_failure;
use crate::ingest::InstanceNonces;
use crate::ports::{ClaimOutcome, Confirmed, NonceClaim, NonceStore, PortError, Sighting, SightingReader};

const KEY: &str = "nonce";
const STATE: &str = "state";
const CLAIM: &str = "claim";
const EXPIRES_AT: &str = "expires_at";
const CLAIMED: &str = "claimed";
const FIRST_SEEN: &str = "first_seen";
const LAST_SEEN: &str = "last_seen";
const SEEN_COUNT: &str = "seen_count";
/// How long a sighting is kept after the last one: longer than any rotation's grace.
const SIGHTING_KEPT_SECONDS: i64 = 30 * 86_400;

fn sighting_key(service: &str, fingerprint: &str) -> String {
    format!("seen#{service}#{fingerprint}")
}
const USED: &str = "used";

/// The table's failure code for logs and metrics.
const UNAVAILABLE: &str = "nonce_store_unavailable";

#[derive(Clone)]
pub struct DynamoNonces {
    client: Client,
    table: String,
}

impl DynamoNonces {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn describe<E: ProvideErrorMetadata, R>(operation: &str, e: &SdkError<E, R>) -> PortError {
    PortError::new(UNAVAILABLE, format!("{operation}: {}", super::sdk_error::describe(e)))
}

fn new_token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

impl NonceStore for DynamoNonces {
    async fn claim(&self, key: &str, now: i64, lease_until: i64) -> Result<ClaimOutcome, PortError> {
        let token = new_token();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(key.to_owned()))
            .item(STATE, AttributeValue::S(CLAIMED.to_owned()))
            .item(CLAIM, AttributeValue::S(token.clone()))
            .item(EXPIRES_AT, AttributeValue::N(lease_until.to_string()))
            .condition_expression("attribute_not_exists(#k) OR #e < :now")
            .expression_attribute_names("#k", KEY)
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(ClaimOutcome::Claimed(NonceClaim { token })),
            Err(SdkError::ServiceError(s)) => match s.err() {
                PutItemError::ConditionalCheckFailedException(failed) => {
                    let text = |name: &str| {
                        failed
                            .item()
                            .and_then(|item| item.get(name))
                            .and_then(|v| v.as_s().ok())
                    };
                    // The SDK resent a put that had been applied (its first answer timed out):
                    // the item is our own claim.
                    if text(CLAIM).is_some_and(|holder| *holder == token) {
                        return Ok(ClaimOutcome::Claimed(NonceClaim { token }));
                    }
                    let state = text(STATE);
                    // Without the old item (an emulator that omits it) the safe reading is
                    // "in flight": 503, Sinch retries, nothing is refused for good.
                    Ok(if state.is_some_and(|s| s == USED) {
                        ClaimOutcome::Used
                    } else {
                        ClaimOutcome::InFlight
                    })
                }
                _ => Err(describe("PutItem", &SdkError::ServiceError(s))),
            },
            Err(e) => Err(describe("PutItem", &e)),
        }
    }

    async fn confirm(&self, key: &str, claim: &NonceClaim, used_until: i64) -> Result<Confirmed, PortError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .update_expression("SET #s = :used, #e = :until REMOVE #c")
            .condition_expression("#c = :token")
            .expression_attribute_names("#s", STATE)
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_names("#c", CLAIM)
            .expression_attribute_values(":used", AttributeValue::S(USED.to_owned()))
            .expression_attribute_values(":until", AttributeValue::N(used_until.to_string()))
            .expression_attribute_values(":token", AttributeValue::S(claim.token.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Confirmed::Used),
            // Our claim lapsed and another request took it: that one confirms. Both stored the
            // event; the caller logs and counts it.
            Err(e) if is_condition_failure(&e) => Ok(Confirmed::Lapsed),
            Err(e) => Err(describe("UpdateItem", &e)),
        }
    }

    async fn release(&self, key: &str, claim: &NonceClaim) -> Result<(), PortError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .condition_expression("#c = :token")
            .expression_attribute_names("#c", CLAIM)
            .expression_attribute_values(":token", AttributeValue::S(claim.token.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(describe("DeleteItem", &e)),
        }
    }

    async fn record_sighting(
        &self,
        service: &str,
        fingerprint: &str,
        seen_at: i64,
        count: u64,
    ) -> Result<(), PortError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(sighting_key(service, fingerprint)))
            .update_expression("SET #f = if_not_exists(#f, :t), #l = :t, #e = :exp ADD #n :count")
            .expression_attribute_names("#f", FIRST_SEEN)
            .expression_attribute_names("#l", LAST_SEEN)
            .expression_attribute_names("#e", EXPIRES_AT)
            .expression_attribute_names("#n", SEEN_COUNT)
            .expression_attribute_values(":t", AttributeValue::N(seen_at.to_string()))
            .expression_attribute_values(
                ":exp",
                AttributeValue::N(seen_at.saturating_add(SIGHTING_KEPT_SECONDS).to_string()),
            )
            .expression_attribute_values(":count", AttributeValue::N(count.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| describe("UpdateItem", &e))
    }
}

impl SightingReader for DynamoNonces {
    async fn sighting(&self, service: &str, fingerprint: &str) -> Result<Option<Sighting>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(sighting_key(service, fingerprint)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| describe("GetItem", &e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let number = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse::<i64>().ok())
                .unwrap_or(0)
        };
        Ok(Some(Sighting {
            first_seen: number(FIRST_SEEN),
            last_seen: number(LAST_SEEN),
            count: u64::try_from(number(SEEN_COUNT)).unwrap_or(0),
        }))
    }
}

/// The nonce store a deployment chose (`ReplayProtection`): the shared table when
/// `NONCE_TABLE_NAME` is set, else each environment's own memory.
pub enum Nonces {
    Instance(InstanceNonces),
    Table(DynamoNonces),
}

impl NonceStore for Nonces {
    async fn claim(&self, key: &str, now: i64, lease_until: i64) -> Result<ClaimOutcome, PortError> {
        match self {
            Nonces::Instance(store) => store.claim(key, now, lease_until).await,
            Nonces::Table(store) => store.claim(key, now, lease_until).await,
        }
    }

    async fn confirm(&self, key: &str, claim: &NonceClaim, used_until: i64) -> Result<Confirmed, PortError> {
        match self {
            Nonces::Instance(store) => store.confirm(key, claim, used_until).await,
            Nonces::Table(store) => store.confirm(key, claim, used_until).await,
        }
    }

    async fn release(&self, key: &str, claim: &NonceClaim) -> Result<(), PortError> {
        match self {
            Nonces::Instance(store) => store.release(key, claim).await,
            Nonces::Table(store) => store.release(key, claim).await,
        }
    }

    async fn record_sighting(
        &self,
        service: &str,
        fingerprint: &str,
        seen_at: i64,
        count: u64,
    ) -> Result<(), PortError> {
        match self {
            Nonces::Instance(_) => Ok(()),
            Nonces::Table(store) => store.record_sighting(service, fingerprint, seen_at, count).await,
        }
    }
}
