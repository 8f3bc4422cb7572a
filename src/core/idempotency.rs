//! Idempotency: a repeated key is applied once.
//!
//! The newest `IDEMPOTENCY_RECENT_MAX` keys of a scope live in its head, so they
//! commit atomically with the operation itself. When a key falls out of that
//! window, the operation that pushes it out first writes it to its own record
//! (`…/i/{key}`) and only then commits the head. A record therefore only ever
//! describes a committed operation, and no crash can leave a key both unapplied
//! and remembered, or applied and forgotten.

use serde::{Deserialize, Serialize};

use super::error::{LedgerError, LedgerResult};
use super::pool::Grant;
use super::time::UnixMs;

/// Keys kept in the head. Bounds the head's size; older keys live in records.
pub const IDEMPOTENCY_RECENT_MAX: usize = 16;

pub const RECORD_SCHEMA: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    Grant,
    Usage,
    Consume,
    Reserve,
}

/// What a committed keyed operation leaves behind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "o")]
    pub kind: OperationKind,
    /// Fingerprint of the validated payload: a repeat must match it.
    #[serde(rename = "f")]
    pub fingerprint: String,
    #[serde(rename = "c")]
    pub currency_id: String,
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    #[serde(rename = "t")]
    pub at_ms: UnixMs,
    /// For a reservation: when it expires (a repeat answers with it).
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<UnixMs>,
}

/// A key evicted from the head's window, stored under its own store key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    #[serde(rename = "v")]
    pub schema: u32,
    #[serde(rename = "e")]
    pub entry: KeyEntry,
    /// The grant as it was when the key was evicted, for repeats after the
    /// grant itself has been pruned from the head.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub grant_snapshot: Option<Grant>,
}

impl IdempotencyRecord {
    pub fn decode(store_key: &str, key: &str, text: &str) -> LedgerResult<Self> {
        let record: IdempotencyRecord =
            serde_json::from_str(text).map_err(|e| LedgerError::corrupt(store_key, e.to_string()))?;
        if record.schema != RECORD_SCHEMA {
            return Err(LedgerError::corrupt(
                store_key,
                format!("record schema {} is not {RECORD_SCHEMA}", record.schema),
            ));
        }
        if record.entry.key != key {
            return Err(LedgerError::corrupt(store_key, "the record belongs to another idempotency key"));
        }
        Ok(record)
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("idempotency records serialise")
    }
}

/// A keyed operation's claim, checked against what is remembered.
#[derive(Debug, Clone)]
pub struct Claim {
    pub key: String,
    pub kind: OperationKind,
    pub fingerprint: String,
}

impl Claim {
    pub fn new(key: &str, kind: OperationKind, payload: &str) -> Self {
        Self { key: key.to_string(), kind, fingerprint: fingerprint(payload) }
    }

    /// `Ok(())` when `entry` is this same operation, `IDEMPOTENCY_CONFLICT` otherwise.
    pub fn check_repeat(&self, entry: &KeyEntry) -> LedgerResult<()> {
        if entry.kind != self.kind || entry.fingerprint != self.fingerprint {
            return Err(LedgerError::IdempotencyConflict { key: self.key.clone() });
        }
        Ok(())
    }
}

/// FNV-1a, 64 bits, hex: stable across builds and platforms (unlike `Hash`).
pub fn fingerprint(payload: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in payload.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
