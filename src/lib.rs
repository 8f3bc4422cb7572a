//! # credit-pools
//!
//! Isolated credit pools per customer resource (a workspace, a team member, an
//! API key), checked and debited where requests land. Behaviour follows Stigg's
//! resource-specific credit pools; the JS API uses Stigg's names.
//!
//! The crate is two layers:
//! - [`core`]: a pure, deterministic ledger. It never reads a clock, never does
//!   I/O and names no JS type; the host's key-value store and clock come in
//!   through the [`core::store::Store`] and [`core::store::Environment`] traits.
//! - `wasm` (only on `wasm32`): the `CreditLedger` class exported to JS, which
//!   converts types and drives the host's `kv` object.
//!
//! ```
//! use credit_pools::core::{api::*, catalog::CatalogInput, decode::FromJson, store::*, Ledger};
//! let catalog = CatalogInput::from_json_text(r#"{
//!   "currencies": [{ "id": "ai-tokens" }],
//!   "plans": [{ "id": "plan-basic",
//!     "credits": [{ "currencyId": "ai-tokens", "amount": 1000, "cadence": "MONTH" }],
//!     "creditRates": [{ "featureId": "feature-ai-tokens", "currencyId": "ai-tokens", "amount": 1 }] }]
//! }"#, "catalog").unwrap();
//! let env = ManualEnvironment::new(1_767_225_600_000, 7);
//! let ledger = Ledger::new(MemoryStore::default(), env, catalog, None).unwrap();
//! let run = |f| credit_pools::block_on(f);
//! run(async {
//!     let provision = r#"{"customerId":"acme","planId":"plan-basic","resourceId":"ws-1"}"#;
//!     ledger.provision_subscription(FromJson::from_json_text(provision, "").unwrap()).await.unwrap();
//!     let usage = r#"{"customerId":"acme","resourceId":"ws-1","featureId":"feature-ai-tokens","value":150}"#;
//!     let ack = ledger.report_usage(FromJson::from_json_text(usage, "").unwrap()).await.unwrap();
//!     assert_eq!(ack.result.credit.current_balance, 850.0);
//! });
//! ```

// The library is `no_std` (core and alloc only): the .wasm then carries no
// std runtime, and its panic handler and heap are the binding's own
// (`src/wasm/mod.rs`). Native builds link std for the tests and binaries.
#![no_std]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

// On wasm32, `assert!`, `assert_eq!` and `unreachable!` are these lean
// versions (they shadow core's in every module): a broken invariant panics
// with its place (file, line, column; the panic handler prints it) and one
// shared message, instead of the asserted expression's text or the
// unreachable's reason. That text is the source at that place in that version
// (`buildInfo()` names it), so a bug report loses nothing, and the .wasm drops
// a string and a format per site: 1.1 KB of gzip (BENCHMARKS.md, "The module's
// bytes"). Native builds, where the tests run, keep core's full messages.
#[cfg(target_arch = "wasm32")]
macro_rules! assert {
    ($condition:expr $(, $($message:tt)*)?) => {
        if !$condition {
            panic!("credit-pools invariant broken (a bug; the place is the assertion)")
        }
    };
}
#[cfg(target_arch = "wasm32")]
macro_rules! assert_eq {
    ($left:expr, $right:expr $(, $($message:tt)*)?) => {
        assert!($left == $right)
    };
}
#[cfg(target_arch = "wasm32")]
macro_rules! unreachable {
    ($($reason:tt)*) => {
        panic!("credit-pools invariant broken (a bug; the place is the assertion)")
    };
}

/// What std's prelude would bring: the alloc types every module uses.
mod prelude {
    pub(crate) use alloc::boxed::Box;
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec::Vec;
    pub(crate) use alloc::{format, vec};
}

pub mod core;

#[cfg(target_arch = "wasm32")]
mod wasm;

/// Runs a future to completion on the current thread. The core's futures only
/// wait on the store, so with an in-memory store they never stay pending; this
/// is for native tests, examples and simulations, not a general executor.
pub fn block_on<F: ::core::future::Future>(future: F) -> F::Output {
    use ::core::task::{Context, Poll, Waker};
    let mut future = ::core::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    // Bounded: a future that stays pending this long waits on something a
    // synchronous store can never deliver.
    for _ in 0..1_000_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
    panic!("block_on: the future never completed (it waits on an asynchronous resource)");
}
