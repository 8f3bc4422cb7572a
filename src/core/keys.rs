//! Ids and the store key layout.
//!
//! Every key is `{keyPrefix}/s/{customer}{resource}/{record}` where each id is
//! written as `{byte length}:{bytes}` and the global pool's resource as `-`.
//! Length-prefixing makes the encoding injective for arbitrary UTF-8 ids (no
//! escaping, no separator an id could forge), and the prefix may not contain
//! `/`, so two ledgers with different prefixes never share a key.
//!
//! | record | key suffix | value |
//! |---|---|---|
//! | scope head (commit record) | `/h` | `ScopeHead` JSON |
//! | ledger page `n` | `/l/{n}` | up to `LEDGER_PAGE_EVENTS` events |
//! | idempotency record | `/i/{len}:{key}` | `IdempotencyRecord` JSON |

use super::error::{LedgerError, LedgerResult};
use super::json::write_u64;
use super::limits::{ID_BYTES_MAX, KEY_BYTES_MAX, KEY_PREFIX_BYTES_MAX};
use crate::prelude::*;

// Longest key: prefix, "/s/", two ids, "/i/", an idempotency key, each id with a
// length prefix of at most 4 bytes ("128:").
const KEY_BYTES_LONGEST: usize = KEY_PREFIX_BYTES_MAX + 3 + 3 * (4 + ID_BYTES_MAX) + 3;
const _: () = assert!(KEY_BYTES_LONGEST <= KEY_BYTES_MAX);

pub const KEY_PREFIX_DEFAULT: &str = "credit-pools";

/// `{prefix}/g/{len}:{grant id}`: which scope holds a grant.
pub fn grant_index_key(prefix: &str, grant_id: &str) -> String {
    let mut key = keyed(prefix, "/g/");
    push_id(&mut key, grant_id);
    key
}

/// `{prefix}/u/{len}:{subscription id}`: which scope holds a subscription.
pub fn subscription_index_key(prefix: &str, subscription_id: &str) -> String {
    let mut key = keyed(prefix, "/u/");
    push_id(&mut key, subscription_id);
    key
}

/// `{prefix}/a/{len}:{customer}{len}:{currency}`: a customer's recharge
/// configuration and monthly spend in one currency (all its pools share it).
pub fn account_key(prefix: &str, customer_id: &str, currency_id: &str) -> String {
    let mut key = keyed(prefix, "/a/");
    push_id(&mut key, customer_id);
    push_id(&mut key, currency_id);
    key
}

/// `{prefix}/r/{len}:{reservation id}`: which scope holds a reservation.
pub fn reservation_index_key(prefix: &str, reservation_id: &str) -> String {
    let mut key = keyed(prefix, "/r/");
    push_id(&mut key, reservation_id);
    key
}

/// Checks an id: non-empty UTF-8 of at most `ID_BYTES_MAX` bytes.
pub fn check_id(field: &str, value: &str) -> LedgerResult<()> {
    if value.is_empty() {
        return Err(LedgerError::invalid(field, "must be a non-empty string"));
    }
    if value.len() > ID_BYTES_MAX {
        return Err(LedgerError::invalid(field, format!("must be at most {ID_BYTES_MAX} bytes, got {}", value.len())));
    }
    Ok(())
}

/// Checks the host's key prefix: 1..=64 bytes of `[A-Za-z0-9_.:-]`.
pub fn check_key_prefix(prefix: &str) -> LedgerResult<()> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-');
    if prefix.is_empty() || prefix.len() > KEY_PREFIX_BYTES_MAX || !prefix.bytes().all(allowed) {
        return Err(LedgerError::invalid(
            "keyPrefix",
            format!("must be 1 to {KEY_PREFIX_BYTES_MAX} characters of A-Z a-z 0-9 _ . : -, got \"{prefix}\""),
        ));
    }
    Ok(())
}

/// `{prefix}{kind}` with room for the ids that follow.
fn keyed(prefix: &str, kind: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + kind.len() + 48);
    key.push_str(prefix);
    key.push_str(kind);
    key
}

fn push_id(key: &mut String, id: &str) {
    write_u64(key, id.len() as u64);
    key.push(':');
    key.push_str(id);
}

/// A wallet scope: one customer's global pools (`resource_id == None`) or one
/// resource's pools. It is the unit of commit and of serialisation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub customer_id: String,
    pub resource_id: Option<String>,
}

impl Scope {
    pub fn new(customer_id: &str, resource_id: Option<&str>) -> LedgerResult<Self> {
        check_id("customerId", customer_id)?;
        if let Some(resource) = resource_id {
            check_id("resourceId", resource)?;
        }
        Ok(Self { customer_id: customer_id.to_string(), resource_id: resource_id.map(str::to_string) })
    }

    /// For messages: `customer "acme", resource "ws-1"` or `customer "acme" (global pool)`.
    pub fn describe(&self) -> String {
        match &self.resource_id {
            Some(resource) => format!("customer \"{}\", resource \"{}\"", self.customer_id, resource),
            None => format!("customer \"{}\" (global pool)", self.customer_id),
        }
    }

    /// `{prefix}/s/{customer}{resource}`: the common stem of this scope's keys.
    pub fn stem(&self, prefix: &str) -> String {
        let mut key = String::with_capacity(prefix.len() + 16 + self.customer_id.len());
        key.push_str(prefix);
        key.push_str("/s/");
        push_id(&mut key, &self.customer_id);
        match &self.resource_id {
            Some(resource) => push_id(&mut key, resource),
            None => key.push('-'),
        }
        key
    }

    pub fn head_key(&self, prefix: &str) -> String {
        let mut key = self.stem(prefix);
        key.push_str("/h");
        key
    }

    pub fn page_key(&self, prefix: &str, page: u64) -> String {
        let mut key = self.stem(prefix);
        key.push_str("/l/");
        write_u64(&mut key, page);
        key
    }

    pub fn idempotency_key(&self, prefix: &str, idempotency_key: &str) -> String {
        let mut key = self.stem(prefix);
        key.push_str("/i/");
        push_id(&mut key, idempotency_key);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_is_readable() {
        let scope = Scope::new("acme", Some("ws-1")).unwrap();
        assert_eq!(scope.head_key("cp"), "cp/s/4:acme4:ws-1/h");
        assert_eq!(scope.page_key("cp", 3), "cp/s/4:acme4:ws-1/l/3");
        assert_eq!(Scope::new("acme", None).unwrap().idempotency_key("cp", "k"), "cp/s/4:acme-/i/1:k");
    }

    #[test]
    fn longest_key_fits_workers_kv() {
        let long = "\u{10FFFF}".repeat(ID_BYTES_MAX / 4);
        let scope = Scope::new(&long, Some(&long)).unwrap();
        let prefix = "p".repeat(KEY_PREFIX_BYTES_MAX);
        assert!(scope.idempotency_key(&prefix, &long).len() <= KEY_BYTES_MAX);
    }

    #[test]
    fn ids_and_prefixes_are_checked() {
        assert_eq!(check_id("customerId", "").unwrap_err().code(), "INVALID_ARGUMENT");
        assert!(check_id("customerId", &"x".repeat(ID_BYTES_MAX + 1)).is_err());
        assert!(check_key_prefix("tenant/1").is_err());
        assert!(check_key_prefix("").is_err());
        assert!(check_key_prefix("tenant-1:prod").is_ok());
    }

    proptest! {
        // Ids full of separators, length-like digits and unicode never collide.
        #[test]
        fn encoding_is_injective(
            a in "[-:/0-9a\u{e9}\u{1F600}]{1,12}", b in proptest::option::of("[-:/0-9a\u{e9}]{1,12}"),
            c in "[-:/0-9a\u{e9}\u{1F600}]{1,12}", d in proptest::option::of("[-:/0-9a\u{e9}]{1,12}"),
        ) {
            let left = Scope::new(&a, b.as_deref()).unwrap();
            let right = Scope::new(&c, d.as_deref()).unwrap();
            prop_assert_eq!(left == right, left.head_key("p") == right.head_key("p"));
            prop_assert_eq!(left == right, left.page_key("p", 0) == right.page_key("p", 0));
            prop_assert_eq!((left == right) && a == c, left.idempotency_key("p", &a) == right.idempotency_key("p", &c));
        }
    }
}
