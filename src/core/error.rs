//! The one error type of the core, with a stable machine-readable code.

use crate::prelude::*;
use core::fmt;

/// Every way an operation can fail. `code()` is the contract callers switch on;
/// the message is for humans and names the offending field or key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// Input that is malformed: a missing id, a negative or non-finite amount, a bad date.
    InvalidArgument { field: String, reason: String },
    /// A reference to something that does not exist: plan, currency, feature, subscription.
    NotFound { what: String },
    /// The same idempotency key was used earlier with a different payload.
    IdempotencyConflict { key: String },
    /// The operation does not apply to the target's current state (voiding a
    /// grant twice, voiding an overdraft grant).
    InvalidState { what: String },
    /// A `requireBalance` debit or a reservation the available balance cannot cover.
    InsufficientCredits { currency_id: String, available_micros: i64, requested_micros: i64 },
    /// A named bound from `limits.rs` would be exceeded.
    LimitExceeded { what: String, limit: u64 },
    /// The host store failed (a `get` or `put` threw or rejected).
    StoreError { key: String, reason: String },
    /// A value in the store is not what this library wrote there.
    CorruptState { key: String, reason: String },
    /// Other writers kept committing to the same record (a scope head or an
    /// account) between this operation's read and its compare-and-set write,
    /// for every one of its bounded attempts. Nothing was committed; retry.
    Conflict { key: String, attempts: u32 },
}

impl LedgerError {
    /// Append-only: a code is never renamed or reused, because callers switch on it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::IdempotencyConflict { .. } => "IDEMPOTENCY_CONFLICT",
            Self::LimitExceeded { .. } => "LIMIT_EXCEEDED",
            Self::InvalidState { .. } => "INVALID_STATE",
            Self::InsufficientCredits { .. } => "INSUFFICIENT_CREDITS",
            Self::StoreError { .. } => "STORE_ERROR",
            Self::CorruptState { .. } => "CORRUPT_STATE",
            Self::Conflict { .. } => "CONFLICT",
        }
    }

    pub fn invalid(field: &str, reason: impl Into<String>) -> Box<Self> {
        Box::new(Self::InvalidArgument { field: field.to_string(), reason: reason.into() })
    }

    pub fn not_found(what: impl Into<String>) -> Box<Self> {
        Box::new(Self::NotFound { what: what.into() })
    }

    pub fn limit(what: impl Into<String>, limit: usize) -> Box<Self> {
        Box::new(Self::LimitExceeded { what: what.into(), limit: limit as u64 })
    }

    pub fn corrupt(key: &str, reason: impl Into<String>) -> Box<Self> {
        Box::new(Self::CorruptState { key: key.to_string(), reason: reason.into() })
    }
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidArgument { field, reason } => write!(f, "invalid `{field}`: {reason}"),
            Self::NotFound { what } => write!(f, "{what} not found"),
            Self::IdempotencyConflict { key } => {
                write!(f, "idempotency key `{key}` was already used with a different payload")
            }
            Self::LimitExceeded { what, limit } => write!(f, "{what} exceeds the limit of {limit}"),
            Self::InvalidState { what } => write!(f, "{what}"),
            Self::InsufficientCredits { currency_id, available_micros, requested_micros } => {
                let (mut available, mut requested) = (String::new(), String::new());
                super::json::write_micros(&mut available, *available_micros);
                super::json::write_micros(&mut requested, *requested_micros);
                write!(
                    f,
                    "pool \"{currency_id}\" has {available} credits available (balance less open reservations); {requested} requested"
                )
            }
            Self::StoreError { key, reason } => write!(f, "store failed on key `{key}`: {reason}"),
            Self::CorruptState { key, reason } => {
                write!(f, "stored value at key `{key}` is not valid credit-pools state: {reason}")
            }
            Self::Conflict { key, attempts } => write!(
                f,
                "key `{key}` was committed by another writer during each of {attempts} attempts; nothing was written"
            ),
        }
    }
}

impl core::error::Error for LedgerError {}

/// Boxed: the error path is one pointer, so the many `?`s of the core move a
/// word instead of a multi-`String` enum (which costs code at each of them).
pub type LedgerResult<T> = Result<T, Box<LedgerError>>;
