//! Idempotency: a repeated key is applied once.
//!
//! The newest `IDEMPOTENCY_RECENT_MAX` keys of a scope live in its head, so they
//! commit atomically with the operation itself. When a key falls out of that
//! window, the operation that pushes it out first writes it to its own record
//! (`…/i/{key}`) and only then commits the head. A record therefore only ever
//! describes a committed operation, and no crash can leave a key both unapplied
//! and remembered, or applied and forgotten.

use crate::prelude::*;
use alloc::rc::Rc;

use super::decode::{self, At, Decoded, Fields};
use super::encoded::Encoded;
use super::error::{LedgerError, LedgerResult};
use super::json::{self, Json, ObjectWriter};
use super::pool::Grant;
use super::time::UnixMs;

/// Keys kept in the head. Bounds the head's size; older keys live in records.
pub const IDEMPOTENCY_RECENT_MAX: usize = 16;

/// 2: hand-written JSON (the field names of 1, operation kinds as numbers).
pub const RECORD_SCHEMA: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OperationKind {
    #[default]
    Grant,
    Usage,
    Consume,
    Reserve,
}

/// What a committed keyed operation leaves behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyEntry {
    pub key: String,
    pub kind: OperationKind,
    /// Fingerprint of the validated payload: a repeat must match it.
    pub fingerprint: String,
    pub currency_id: String,
    pub grant_id: Option<String>,
    pub at_ms: UnixMs,
    /// For a reservation: when it expires (a repeat answers with it).
    pub expires_at_ms: Option<UnixMs>,
}

/// A key evicted from the head's window, stored under its own store key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub schema: u32,
    pub entry: KeyEntry,
    /// The grant as it was when the key was evicted, for repeats after the
    /// grant itself has been pruned from the head.
    pub grant_snapshot: Option<Grant>,
}

impl OperationKind {
    const ALL: [OperationKind; 4] =
        [OperationKind::Grant, OperationKind::Usage, OperationKind::Consume, OperationKind::Reserve];
}

impl KeyEntry {
    /// The committed entry with its text kept (see `encoded.rs`).
    pub fn committed(self) -> Rc<Encoded<Self>> {
        Encoded::new(self, Self::write)
    }

    /// Stored as `{"k":key,"o":kind,"f":fingerprint,"c":currency,"g"?:grant,"t":ms,"x"?:expires}`.
    pub fn write(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("k", &self.key).int("o", self.kind as i64).str("f", &self.fingerprint).str("c", &self.currency_id);
        o.some_str("g", self.grant_id.as_deref()).int("t", self.at_ms).some_int("x", self.expires_at_ms);
        o.finish();
    }

    pub fn read(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        let kind = *OperationKind::ALL
            .get(f.unsigned("o") as usize)
            .ok_or_else(|| decode::DecodeError::new(&f.path_of("o"), "is not an operation kind"))?;
        f.finish(Self {
            key: f.string("k"),
            kind,
            fingerprint: f.string("f"),
            currency_id: f.string("c"),
            grant_id: f.opt_string("g"),
            at_ms: f.integer("t"),
            expires_at_ms: f.opt_integer("x"),
        })
    }
}

impl IdempotencyRecord {
    pub fn decode(store_key: &str, key: &str, text: &str) -> LedgerResult<Self> {
        let value = json::parse(text).map_err(|reason| LedgerError::corrupt(store_key, reason))?;
        let read = || -> Decoded<Self> {
            let f = Fields::of(&value, &At::Root("record"));
            f.finish(Self {
                schema: f.unsigned("v") as u32,
                entry: f.req("e", KeyEntry::read),
                grant_snapshot: f.opt("s", super::pool::Grant::read),
            })
        };
        let record = read().map_err(|error| error.corrupt(store_key))?;
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
        let mut out = String::with_capacity(160);
        let mut o = ObjectWriter::new(&mut out);
        o.int("v", i64::from(self.schema));
        self.entry.write(o.key("e"));
        if let Some(grant) = &self.grant_snapshot {
            grant.write(o.key("s"));
        }
        o.finish();
        out
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
            return Err(Box::new(LedgerError::IdempotencyConflict { key: self.key.clone() }));
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
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..16).rev().map(|nibble| HEX[((hash >> (nibble * 4)) & 0xf) as usize] as char).collect()
}
