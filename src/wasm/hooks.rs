//! The host's callbacks (`onEvent`, `onRecharge`) and background work.
//!
//! Events are delivered after the operation that produced them committed, in
//! a task of their own (a microtask later, never inside the call that
//! committed them), one operation's events together and operations in commit
//! order: an `onEvent` that calls back into the ledger never interleaves its
//! own events with the ones being delivered, and never grows the stack. A
//! callback that throws is reported on the console and changes nothing. A
//! recharge's payment runs in the background, after the debit that started it
//! has resolved: its outcome is applied by `confirmRecharge` / `failRecharge`
//! as their own operations. `flush()` resolves once no background work is left
//! (pass it to `ctx.waitUntil` in a Worker).

use crate::prelude::*;
use alloc::rc::Rc;
use core::cell::RefCell;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use super::convert::output_value;
use super::host::describe;
use super::HostLedger;
use crate::core::events::HostEvent;
use crate::core::json::ToJson;
use crate::core::ledger::RechargeRequest;
use crate::core::recharge::RechargeOutcomeInput;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

/// The panic handler's output: `credit-pools panicked (a bug; please report it): panicked at <place>:\n<message>`.
pub(crate) fn report_panic(message: &str) {
    console_error(&["credit-pools panicked (a bug; please report it): ", message].concat());
}

/// One instantiation of the executor's task for all background work.
fn spawn_task(task: core::pin::Pin<Box<dyn core::future::Future<Output = ()>>>) {
    spawn_local(task);
}

#[derive(Debug, Default)]
pub(crate) struct Hooks {
    pub(crate) on_event: Option<Function>,
    pub(crate) on_recharge: Option<Function>,
    background: RefCell<Background>,
}

#[derive(Debug, Default)]
struct Background {
    in_flight: u32,
    waiters: Vec<Function>,
}

impl Hooks {
    pub(crate) fn new(on_event: Option<Function>, on_recharge: Option<Function>) -> Self {
        Self { on_event, on_recharge, background: RefCell::default() }
    }

    /// Hands a committed operation's events to the host, then starts the
    /// payments it asked for. Not generic: one copy for every operation.
    pub(crate) fn deliver_all(
        self: &Rc<Self>,
        ledger: &Rc<HostLedger>,
        events: Vec<HostEvent>,
        recharges: Vec<RechargeRequest>,
    ) {
        if self.on_event.is_some() && !events.is_empty() {
            let hooks = Rc::clone(self);
            spawn_task(Box::pin(async move { hooks.deliver(&events) }));
        }
        for request in recharges {
            self.start_payment(ledger, request);
        }
    }

    fn deliver(&self, events: &[HostEvent]) {
        let Some(on_event) = &self.on_event else { return };
        for event in events {
            let Ok(value) = output_value(&event.to_json()) else { continue };
            if let Err(error) = on_event.call1(&JsValue::UNDEFINED, &value) {
                console_error(&format!("credit-pools: onEvent threw for {}: {}", event.message_id, describe(&error)));
            }
        }
    }

    fn start_payment(self: &Rc<Self>, ledger: &Rc<HostLedger>, request: RechargeRequest) {
        let Some(on_recharge) = self.on_recharge.clone() else { return };
        self.background.borrow_mut().in_flight += 1;
        let (hooks, ledger) = (Rc::clone(self), Rc::clone(ledger));
        spawn_task(Box::pin(async move {
            let paid = pay(&on_recharge, &request).await;
            let input = RechargeOutcomeInput { recharge_id: request.recharge_id.clone(), reason: paid.clone().err() };
            let result = match paid {
                Ok(()) => ledger.confirm_recharge(input).await,
                Err(_) => ledger.fail_recharge(input).await,
            };
            match result {
                Ok(outcome) => hooks.deliver_all(&ledger, outcome.events, outcome.recharges),
                Err(error) => console_error(&format!(
                    "credit-pools: recording the payment of recharge {} failed ({}); it stays PAYMENT_PENDING until confirmRecharge or failRecharge: {error}",
                    request.recharge_id,
                    error.code()
                )),
            }
            hooks.finish_one();
        }));
    }

    fn finish_one(&self) {
        let waiters = {
            let mut background = self.background.borrow_mut();
            background.in_flight -= 1;
            if background.in_flight > 0 {
                return;
            }
            core::mem::take(&mut background.waiters)
        };
        for resolve in waiters {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    }

    /// Resolves when no payment is in flight.
    pub(crate) fn flush(&self) -> Promise {
        Promise::new(&mut |resolve, _reject| {
            let mut background = self.background.borrow_mut();
            if background.in_flight == 0 {
                drop(background);
                let _ = resolve.call0(&JsValue::UNDEFINED);
            } else {
                background.waiters.push(resolve);
            }
        })
    }
}

/// Calls `onRecharge(request)`; `Ok` when it returns or resolves, `Err(reason)`
/// when it throws or rejects.
async fn pay(on_recharge: &Function, request: &RechargeRequest) -> Result<(), String> {
    let value = output_value(&request.to_json()).map_err(|e| describe(&e))?;
    let returned = on_recharge.call1(&JsValue::UNDEFINED, &value).map_err(|e| describe(&e))?;
    let is_thenable = returned.is_object()
        && Reflect::get(&returned, &JsValue::from_str("then")).map(|then| then.is_function()).unwrap_or(false);
    if is_thenable {
        JsFuture::from(Promise::resolve(&returned)).await.map_err(|e| describe(&e))?;
    }
    Ok(())
}
