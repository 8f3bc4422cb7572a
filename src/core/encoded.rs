//! Values that keep their stored JSON text beside them.
//!
//! Every write re-encodes the scope head, and most of a head is records that
//! never change once committed: the ledger tail and the recent idempotency
//! keys. Keeping each one's text means a head is written by copying it, and
//! a head's clone (each write starts from one) shares them by reference.

use crate::prelude::*;
use alloc::rc::Rc;
use core::ops::Deref;

/// An immutable `T` and its JSON text, shared by `Rc`.
#[derive(Debug, PartialEq, Eq)]
pub struct Encoded<T> {
    value: T,
    json: String,
}

impl<T> Encoded<T> {
    /// Encodes `value` once with `write`, the same writer as an uncached record's.
    pub fn new(value: T, write: fn(&T, &mut String)) -> Rc<Self> {
        let mut json = String::with_capacity(128);
        write(&value, &mut json);
        Rc::new(Self { value, json })
    }

    pub fn json(&self) -> &str {
        &self.json
    }
}

impl<T> Deref for Encoded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// Writes `[item,…]` from the items' kept text.
pub fn write_list<T>(out: &mut String, items: &[Rc<Encoded<T>>]) {
    out.push('[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(item.json());
    }
    out.push(']');
}
