//! The pure core: ledger rules and the storage protocol, over an abstract store.
//!
//! Nothing in here names a JS type, reads a clock or does I/O: time and
//! randomness come from `Environment`, storage from `Store`. `cargo test` runs
//! all of it natively.

pub mod amount;
pub mod api;
pub mod catalog;
pub mod commit;
pub mod decode;
pub mod encoded;
pub mod error;
pub mod events;
pub mod float;
pub mod formula;
pub mod idempotency;
pub mod json;
pub mod keys;
pub mod ledger;
pub mod ledger_event;
pub mod limits;
pub mod locks;
pub mod order;
pub mod pool;
pub mod recharge;
pub mod scope;
pub mod scope_index;
pub mod sorted_map;
pub mod store;
pub mod time;

pub use error::{LedgerError, LedgerResult};
pub use ledger::Ledger;
