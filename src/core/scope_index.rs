//! Ledger-wide indexes from a grant or subscription id to its scope.
//!
//! An index record is written before the head that commits the grant or
//! subscription it names. If that commit never happens, the record points at a
//! scope that does not hold the id, which lookups report as `NOT_FOUND`: an
//! index record is a hint, the scope head is the truth.

use super::decode::{At, Decoded, Fields};
use super::error::{LedgerError, LedgerResult};
use super::json::{self, ObjectWriter};
use super::keys::Scope;
use crate::prelude::*;

pub const INDEX_SCHEMA: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeIndexRecord {
    pub schema: u32,
    pub customer_id: String,
    pub resource_id: Option<String>,
}

impl ScopeIndexRecord {
    pub fn new(scope: &Scope) -> Self {
        Self { schema: INDEX_SCHEMA, customer_id: scope.customer_id.clone(), resource_id: scope.resource_id.clone() }
    }

    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(48 + self.customer_id.len());
        let mut o = ObjectWriter::new(&mut out);
        o.int("v", i64::from(self.schema)).str("c", &self.customer_id).some_str("r", self.resource_id.as_deref());
        o.finish();
        out
    }

    pub fn decode(key: &str, text: &str) -> LedgerResult<Scope> {
        let value = json::parse(text).map_err(|reason| LedgerError::corrupt(key, reason))?;
        let read = || -> Decoded<ScopeIndexRecord> {
            let f = Fields::of(&value, &At::Root("index"));
            f.finish(ScopeIndexRecord {
                schema: f.unsigned("v") as u32,
                customer_id: f.string("c"),
                resource_id: f.opt_string("r"),
            })
        };
        let record = read().map_err(|error| error.corrupt(key))?;
        if record.schema != INDEX_SCHEMA {
            return Err(LedgerError::corrupt(key, format!("index schema {} is not {INDEX_SCHEMA}", record.schema)));
        }
        Scope::new(&record.customer_id, record.resource_id.as_deref())
            .map_err(|e| LedgerError::corrupt(key, format!("names an invalid scope: {e}")))
    }
}

/// The subscription id inside a recurring grant id (`{subscription}-{entry}-{period}`).
pub fn subscription_of_recurring_grant(grant_id: &str) -> Option<&str> {
    let (rest, period) = super::json::split_at_byte(grant_id, b'-', true)?;
    let (subscription, entry) = super::json::split_at_byte(rest, b'-', true)?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(period) && digits(entry) && subscription.starts_with("sub-")).then_some(subscription)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurring_grant_ids_name_their_subscription() {
        let sub = "sub-0d197be8-059c-4d8e-8f1b-0138fc5ede34";
        assert_eq!(subscription_of_recurring_grant(&format!("{sub}-0-12")), Some(sub));
        assert_eq!(subscription_of_recurring_grant("0d197be8-059c-4d8e-8f1b-0138fc5ede34"), None);
        assert_eq!(subscription_of_recurring_grant("sub-x-a-1"), None);
    }
}
