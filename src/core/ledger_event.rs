//! Ledger events as stored (compact field names) and as paged in the store.

use crate::prelude::*;
use alloc::rc::Rc;

use super::encoded::{write_list, Encoded};
use super::sorted_map::SortedMap;

use super::decode::{self, At, Decoded, Fields};
use super::error::{LedgerError, LedgerResult};
use super::json::{self, Json, ObjectWriter};
use super::limits::LEDGER_PAGE_EVENTS;
use super::time::UnixMs;

/// Stigg's `CreditLedgerEventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EventKind {
    Granted,
    Consumed,
    Expired,
    Voided,
    TransferSource,
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

    pub const NAMED: [(&'static str, EventKind); 6] = [
        ("CREDITS_GRANTED", EventKind::Granted),
        ("CREDITS_CONSUMED", EventKind::Consumed),
        ("CREDITS_EXPIRED", EventKind::Expired),
        ("CREDITS_VOIDED", EventKind::Voided),
        ("CREDITS_CONSUMPTION_TRANSFER_SOURCE", EventKind::TransferSource),
        ("CREDITS_CONSUMPTION_TRANSFER_TARGET", EventKind::TransferTarget),
    ];

    pub fn name(self) -> &'static str {
        Self::NAMED[self as usize].0
    }
}

/// One ledger row. Its sequence number is its position in the scope's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub kind: EventKind,
    pub timestamp_ms: UnixMs,
    pub currency_id: String,
    pub amount_micros: i64,
    pub grant_id: String,
    pub feature_id: Option<String>,
    /// The usage event that caused a consumption (Stigg's `eventId`).
    pub event_id: Option<String>,
    /// The caller's idempotency key, on the first event of the operation that
    /// carried one.
    pub idempotency_key: Option<String>,
    /// The usage's dimensions, on consumption rows (for usage breakdowns).
    pub dimensions: Option<SortedMap<String>>,
}

impl EventRecord {
    /// The committed event with its text kept (see `encoded.rs`).
    pub fn committed(self) -> Rc<Encoded<Self>> {
        Encoded::new(self, Self::write)
    }

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

    /// Stored as `{"k":kind,"t":ms,"c":currency,"a":micros,"g":grant,"f"?,"e"?,"i"?,"d"?}`,
    /// the kind as its index in `EventKind::ALL`.
    pub fn write(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.int("k", self.kind as i64).int("t", self.timestamp_ms).str("c", &self.currency_id);
        o.int("a", self.amount_micros).str("g", &self.grant_id);
        o.some_str("f", self.feature_id.as_deref()).some_str("e", self.event_id.as_deref());
        o.some_str("i", self.idempotency_key.as_deref());
        if let Some(dimensions) = &self.dimensions {
            super::api::write_string_map(o.key("d"), dimensions);
        }
        o.finish();
    }

    pub fn read(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        let kind = f.unsigned("k");
        let kind = *EventKind::ALL
            .get(kind as usize)
            .ok_or_else(|| decode::DecodeError::new(&f.path_of("k"), "is not an event kind"))?;
        let amount_micros = f.integer("a");
        if amount_micros < 0 {
            return Err(decode::DecodeError::new(&f.path_of("a"), "is negative"));
        }
        f.finish(Self {
            kind,
            timestamp_ms: f.integer("t"),
            currency_id: f.string("c"),
            amount_micros,
            grant_id: f.string("g"),
            feature_id: f.opt_string("f"),
            event_id: f.opt_string("e"),
            idempotency_key: f.opt_string("i"),
            dimensions: f.opt("d", decode::string_map),
        })
    }
}

/// Writes `[event,…]`.
pub fn write_events(out: &mut String, events: &[EventRecord]) {
    out.push('[');
    for (index, event) in events.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        event.write(out);
    }
    out.push(']');
}

/// A stored page: events `page * LEDGER_PAGE_EVENTS ..` of one scope, exactly
/// `LEDGER_PAGE_EVENTS` of them. Written once, from events a head already
/// committed, so a page never changes (see `commit.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPage {
    pub schema: u32,
    pub page: u64,
    pub events: Vec<EventRecord>,
}

/// 3: hand-written JSON, event kinds as numbers. (2: pages full and immutable.)
pub const PAGE_SCHEMA: u32 = 3;

impl LedgerPage {
    pub fn decode(key: &str, page: u64, text: &str) -> LedgerResult<Self> {
        let value = json::parse(text).map_err(|reason| LedgerError::corrupt(key, reason))?;
        let read = || -> Decoded<Self> {
            let f = Fields::of(&value, &At::Root("page"));
            f.finish(Self {
                schema: f.unsigned("v") as u32,
                page: f.unsigned("p"),
                events: f.req("e", |v, p| decode::list(v, p, EventRecord::read)),
            })
        };
        let decoded = read().map_err(|error| error.corrupt(key))?;
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
        Self::encode_with(self.schema, self.page, |out| write_events(out, &self.events))
    }

    /// The page `page` holding `events` (committed, so their text is at hand).
    pub fn encode_committed(page: u64, events: &[Rc<Encoded<EventRecord>>]) -> String {
        Self::encode_with(PAGE_SCHEMA, page, |out| write_list(out, events))
    }

    fn encode_with(schema: u32, page: u64, write: impl FnOnce(&mut String)) -> String {
        let mut out = String::with_capacity(64 + 128 * LEDGER_PAGE_EVENTS as usize);
        let mut o = ObjectWriter::new(&mut out);
        o.int("v", i64::from(schema)).int("p", page as i64);
        write(o.key("e"));
        o.finish();
        out
    }
}

pub fn page_of(seq: u64) -> u64 {
    seq / LEDGER_PAGE_EVENTS
}
