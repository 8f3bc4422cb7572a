//! Ledger events as stored (compact field names) and as paged in the store.

use serde::{Deserialize, Serialize};

use super::error::{LedgerError, LedgerResult};
use super::limits::LEDGER_PAGE_EVENTS;
use super::time::UnixMs;

/// Stigg's `CreditLedgerEventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "CREDITS_GRANTED")]
    Granted,
    #[serde(rename = "CREDITS_CONSUMED")]
    Consumed,
    #[serde(rename = "CREDITS_EXPIRED")]
    Expired,
    #[serde(rename = "CREDITS_VOIDED")]
    Voided,
    #[serde(rename = "CREDITS_CONSUMPTION_TRANSFER_SOURCE")]
    TransferSource,
    #[serde(rename = "CREDITS_CONSUMPTION_TRANSFER_TARGET")]
    TransferTarget,
}

impl EventKind {
    pub const ALL: [EventKind; 6] = [
        EventKind::Granted,
        EventKind::Consumed,
        EventKind::Expired,
        EventKind::Voided,
        EventKind::TransferSource,
        EventKind::TransferTarget,
    ];
}

/// One ledger row. Its sequence number is its position in the scope's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    #[serde(rename = "k")]
    pub kind: EventKind,
    #[serde(rename = "t")]
    pub timestamp_ms: UnixMs,
    #[serde(rename = "c")]
    pub currency_id: String,
    #[serde(rename = "a")]
    pub amount_micros: i64,
    #[serde(rename = "g")]
    pub grant_id: String,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    pub feature_id: Option<String>,
    /// The usage event that caused a consumption (Stigg's `eventId`).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// The caller's idempotency key, on the first event of the operation that
    /// carried one: proof that the operation committed (see `IdempotencyRecord`).
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The usage's dimensions, on consumption rows (for usage breakdowns).
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<std::collections::BTreeMap<String, String>>,
}

impl EventRecord {
    pub fn new(kind: EventKind, timestamp_ms: UnixMs, currency_id: &str, amount_micros: i64, grant_id: &str) -> Self {
        assert!(amount_micros >= 0);
        Self {
            kind,
            timestamp_ms,
            currency_id: currency_id.to_string(),
            amount_micros,
            grant_id: grant_id.to_string(),
            feature_id: None,
            event_id: None,
            idempotency_key: None,
            dimensions: None,
        }
    }
}

/// A stored page: events `page * LEDGER_PAGE_EVENTS ..` of one scope, exactly
/// `LEDGER_PAGE_EVENTS` of them. Written once, from events a head already
/// committed, so a page never changes (see `commit.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPage {
    #[serde(rename = "v")]
    pub schema: u32,
    #[serde(rename = "p")]
    pub page: u64,
    #[serde(rename = "e")]
    pub events: Vec<EventRecord>,
}

/// 2: pages are full and immutable (the head's tail holds the rest).
pub const PAGE_SCHEMA: u32 = 2;

impl LedgerPage {
    pub fn decode(key: &str, page: u64, text: &str) -> LedgerResult<Self> {
        let decoded: LedgerPage = serde_json::from_str(text).map_err(|e| LedgerError::corrupt(key, e.to_string()))?;
        if decoded.schema != PAGE_SCHEMA {
            return Err(LedgerError::corrupt(key, format!("page schema {} is not {PAGE_SCHEMA}", decoded.schema)));
        }
        if decoded.page != page {
            return Err(LedgerError::corrupt(key, format!("holds page {} where page {page} belongs", decoded.page)));
        }
        if decoded.events.len() as u64 != LEDGER_PAGE_EVENTS {
            return Err(LedgerError::corrupt(key, format!("{} events in one page", decoded.events.len())));
        }
        Ok(decoded)
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("ledger pages serialise")
    }
}

pub fn page_of(seq: u64) -> u64 {
    seq / LEDGER_PAGE_EVENTS
}
