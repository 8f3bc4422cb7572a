//! The JS binding: the exported `CreditLedger` class.
//!
//! This layer only converts types and drives the host store; every rule lives
//! in `crate::core`. See `INVARIANTS.md` beside this file before adding an export.

// Exports are reached through wasm-bindgen, not through Rust paths.
#![allow(unreachable_pub)]

use crate::prelude::*;

mod convert;
mod hooks;
mod host;

use alloc::rc::Rc;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::core::catalog::CatalogInput;
use crate::core::decode::{self, FromJson};
use crate::core::events::HostEvent;
use crate::core::json::ToJson;
use crate::core::ledger::{RechargeRequest, WriteResult};
use crate::core::{Ledger, LedgerError, LedgerResult};
use convert::{input_text, list_text, output_value, to_js_error};
use hooks::Hooks;
use host::{JsEnvironment, JsStore};

/// The heap: talc instead of the dlmalloc that std uses on wasm32. Same
/// speed on the benchmark's workload, and 3.0 KB less of the gzip .wasm
/// (BENCHMARKS.md, "The module's bytes"). Single-threaded, like the module.
#[global_allocator]
static HEAP: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

type JsResult<T> = Result<T, JsValue>;
pub(crate) type HostLedger = Ledger<JsStore, JsEnvironment>;

/// A read operation's future, its result already JSON text.
type ReadOp = Pin<Box<dyn Future<Output = LedgerResult<String>>>>;

/// A write operation's future: its output as JSON text, and what goes to the hooks.
type WriteOp = Pin<Box<dyn Future<Output = LedgerResult<Written>>>>;

/// A committed write, type-erased: the JSON text of its result (events
/// included) and the events and payments the hooks deliver.
struct Written {
    json: String,
    events: Vec<HostEvent>,
    recharges: Vec<RechargeRequest>,
}

/// Erases a write's result type (inside each method's own future, so the
/// method's future is the only state machine it compiles to).
fn written<O: ToJson>(outcome: WriteResult<O>) -> Written {
    Written { json: outcome.to_json(), events: outcome.events, recharges: outcome.recharges }
}

/// Erases a read's result type.
fn json_text<O: ToJson>(output: O) -> String {
    output.to_json()
}

/// One method call in flight. Not an `async` block: one small `poll` for every
/// method, where a generic wrapper future per method cost several KB of .wasm.
enum Job {
    Read(ReadOp),
    Write { operation: WriteOp, ledger: Rc<HostLedger>, hooks: Rc<Hooks> },
}

impl Future for Job {
    type Output = JsResult<JsValue>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<JsResult<JsValue>> {
        match &mut *self {
            Job::Read(operation) => match operation.as_mut().poll(context) {
                Poll::Ready(output) => Poll::Ready(output.map_err(to_js_error).and_then(|json| output_value(&json))),
                Poll::Pending => Poll::Pending,
            },
            Job::Write { operation, ledger, hooks } => match operation.as_mut().poll(context) {
                Poll::Ready(Ok(Written { json, events, recharges })) => {
                    hooks.deliver_all(ledger, events, recharges);
                    Poll::Ready(output_value(&json))
                }
                Poll::Ready(Err(error)) => Poll::Ready(Err(to_js_error(error))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// Runs a method call as a Promise, polling it once right away.
///
/// Over a `kv` that answers synchronously (a `Map`; Durable Object storage's
/// cache hits are still Promises) the whole operation completes in that poll,
/// and the caller gets an already settled Promise without the executor's
/// closures and microtasks, which were a tenth of such a call. Otherwise the
/// job goes to the executor, whose first poll registers its real waker: every
/// future here (`JsFuture`, the scope locks) takes the waker of its latest
/// poll, so the no-op waker of the first poll is never the only one.
fn spawn(mut job: Job) -> Promise {
    let mut context = Context::from_waker(Waker::noop());
    match Pin::new(&mut job).poll(&mut context) {
        Poll::Ready(Ok(value)) => Promise::resolve(&value),
        Poll::Ready(Err(error)) => Promise::reject(&error),
        Poll::Pending => future_to_promise(job),
    }
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("types.ts");

/// A panic is a bug: its message and place go to the console, then the
/// instance traps (the module is built with `panic = "abort"`). Defined here
/// because the library is `no_std` (src/lib.rs): no std runtime to do it.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hooks::report_panic(&format!("{info}"));
    core::arch::wasm32::unreachable()
}

/// The crate name and version of this build, for bug reports.
#[wasm_bindgen(js_name = buildInfo, unchecked_return_type = "BuildInfo")]
pub fn build_info() -> JsValue {
    let text = concat!("{\"name\":\"", env!("CARGO_PKG_NAME"), "\",\"version\":\"", env!("CARGO_PKG_VERSION"), "\"}");
    output_value(text).unwrap_or(JsValue::NULL)
}

/// Isolated credit pools per customer resource, persisted in the host's `kv`.
///
/// A pure library: it owns no database and no timer. All state lives in `kv`,
/// so a second `CreditLedger` over the same `kv` sees the same pools. Every
/// method returns a Promise and rejects with an `Error` whose `code` is one of
/// `CreditPoolsErrorCode`; a rejected call changes nothing.
///
/// @example
/// ```ts
/// import { CreditLedger } from "credit-pools";
/// const map = new Map<string, string>();
/// const ledger = new CreditLedger({
///   kv: { get: (k) => map.get(k), put: (k, v) => { map.set(k, v); } },
///   catalog: { currencies: [{ id: "ai-tokens" }], plans: [{ id: "plan-basic",
///     creditRates: [{ featureId: "feature-ai-tokens", currencyId: "ai-tokens", amount: 1 }] }] },
/// });
/// ```
#[wasm_bindgen]
#[derive(Debug)]
pub struct CreditLedger {
    inner: Rc<HostLedger>,
    hooks: Rc<Hooks>,
}

/// A method's input, read from its JSON text by the core's reader.
fn read_input<I: FromJson>(text: &str) -> LedgerResult<I> {
    I::from_json_text(text, "")
}

/// What a method does with its input's JSON text: reads it and starts the
/// operation (`Err`: the input was refused, and nothing ran).
type StartRead = fn(Rc<HostLedger>, &str) -> LedgerResult<ReadOp>;
type StartWrite = fn(Rc<HostLedger>, &str) -> LedgerResult<WriteOp>;

impl CreditLedger {
    /// Reads `input` now and runs the operation `start` begins as a Promise.
    /// Nothing is borrowed across an await: the future owns an `Rc` of the
    /// ledger, whose methods take `&self`, so concurrent and re-entrant calls
    /// are safe. Not generic, so compiled once: each method only adds its
    /// `start` (reading its input type, and the operation's future).
    #[inline(never)]
    fn run(&self, method: &'static str, input: JsValue, start: StartRead) -> Promise {
        match input_text(method, &input).and_then(|text| start(Rc::clone(&self.inner), &text)) {
            Ok(operation) => spawn(Job::Read(operation)),
            Err(error) => Promise::reject(&to_js_error(error)),
        }
    }

    /// `run` for a write operation: after it commits, its events go to
    /// `onEvent` and the payments it asked for to `onRecharge`.
    #[inline(never)]
    fn run_write(&self, method: &'static str, input: JsValue, start: StartWrite) -> Promise {
        match input_text(method, &input).and_then(|text| start(Rc::clone(&self.inner), &text)) {
            Ok(operation) => {
                spawn(Job::Write { operation, ledger: Rc::clone(&self.inner), hooks: Rc::clone(&self.hooks) })
            }
            Err(error) => Promise::reject(&to_js_error(error)),
        }
    }
}

#[wasm_bindgen]
impl CreditLedger {
    /// Creates a ledger over the host's store. Throws `INVALID_ARGUMENT` for a
    /// missing or malformed `kv`, `catalog`, `now` or `keyPrefix`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "CreditLedgerOptions")] options: JsValue,
    ) -> JsResult<CreditLedger> {
        let field = |name: &str| Reflect::get(&options, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        if !options.is_object() {
            return Err(to_js_error(LedgerError::invalid(
                "options",
                "must be an object { kv, catalog, now?, keyPrefix? }",
            )));
        }
        let store = JsStore::new(field("kv")).map_err(|reason| to_js_error(LedgerError::invalid("kv", reason)))?;
        let now = match field("now") {
            value if value.is_undefined() || value.is_null() => None,
            value => Some(value.dyn_into::<Function>().map_err(|_| {
                to_js_error(LedgerError::invalid("now", "must be a function returning epoch milliseconds"))
            })?),
        };
        let key_prefix = match field("keyPrefix") {
            value if value.is_undefined() || value.is_null() => None,
            value => Some(
                value.as_string().ok_or_else(|| to_js_error(LedgerError::invalid("keyPrefix", "must be a string")))?,
            ),
        };
        let callback = |name: &str| -> JsResult<Option<Function>> {
            match field(name) {
                value if value.is_undefined() || value.is_null() => Ok(None),
                value => value
                    .dyn_into::<Function>()
                    .map(Some)
                    .map_err(|_| to_js_error(LedgerError::invalid(name, "must be a function"))),
            }
        };
        let hooks = Hooks::new(callback("onEvent")?, callback("onRecharge")?);
        let thresholds = match field("usageLowThresholds") {
            value if value.is_undefined() || value.is_null() => None,
            value => {
                let text = list_text("usageLowThresholds", &value).map_err(to_js_error)?;
                let read = crate::core::json::parse(&text)
                    .map_err(|reason| LedgerError::invalid("usageLowThresholds", reason))
                    .and_then(|list| {
                        decode::list(&list, &decode::At::Root("usageLowThresholds"), decode::number).map_err(|error| {
                            LedgerError::invalid("usageLowThresholds", format!("{} {}", error.field, error.reason))
                        })
                    });
                Some(read.map_err(to_js_error)?)
            }
        };
        let catalog_text = input_text("catalog", &field("catalog")).map_err(to_js_error)?;
        let catalog = CatalogInput::from_json_text(&catalog_text, "catalog").map_err(to_js_error)?;
        let mut ledger =
            Ledger::new(store, JsEnvironment::new(now), catalog, key_prefix.as_deref()).map_err(to_js_error)?;
        if let Some(thresholds) = thresholds {
            ledger = ledger.with_usage_low_thresholds(&thresholds).map_err(to_js_error)?;
        }
        match field("exclusive") {
            value if value.is_undefined() || value.is_null() => {}
            value => match value.as_bool() {
                Some(true) => ledger = ledger.exclusive(),
                Some(false) => {}
                None => return Err(to_js_error(LedgerError::invalid("exclusive", "must be true or false"))),
            },
        }
        Ok(CreditLedger { inner: Rc::new(ledger), hooks: Rc::new(hooks) })
    }

    /// Provisions a plan for a customer, or for one of its resources. With a
    /// `resourceId`, the resource's isolated pool exists from then on and the
    /// plan's credits for the current period are granted into it. A second
    /// provisioning for the same `(customerId, resourceId)` replaces the first.
    ///
    /// @throws `INVALID_ARGUMENT`, `NOT_FOUND` (unknown plan), `STORE_ERROR`, `CORRUPT_STATE`.
    /// @example
    /// ```ts
    /// const { subscription } = await ledger.provisionSubscription({
    ///   customerId: "customer-demo-01", planId: "plan-basic", resourceId: "workspace-example-com",
    /// });
    /// ```
    #[wasm_bindgen(js_name = provisionSubscription, unchecked_return_type = "Promise<ProvisionSubscriptionResult>")]
    pub fn provision_subscription(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ProvisionSubscriptionInput")] input: JsValue,
    ) -> Promise {
        self.run_write("provisionSubscription", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.provision_subscription(input).await.map(written) }))
        })
    }

    /// Grants credits into the pool of `(customerId, resourceId?, currencyId)`.
    /// With a future `effectiveAt` the grant is `SCHEDULED` until then; with
    /// `expireAt` its remainder expires then. A new grant first pays off the
    /// pool's overdraft.
    ///
    /// @throws `INVALID_ARGUMENT`, `NOT_FOUND` (unknown currency), `IDEMPOTENCY_CONFLICT`, `LIMIT_EXCEEDED`, `STORE_ERROR`.
    /// @example
    /// ```ts
    /// const grant = await ledger.grantCredits({
    ///   customerId: "customer-demo-01", resourceId: "workspace-example-com",
    ///   creditTypeId: "ai-tokens", amount: 5000, grantType: "PAID",
    /// });
    /// ```
    #[wasm_bindgen(js_name = grantCredits, unchecked_return_type = "Promise<GrantCreditsResult>")]
    pub fn grant_credits(&self, #[wasm_bindgen(unchecked_param_type = "GrantCreditsInput")] input: JsValue) -> Promise {
        self.run_write("grantCredits", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.grant_credits(input).await.map(written) }))
        })
    }

    /// Reports usage of a feature and debits exactly the pool of
    /// `(customerId, resourceId?, feature's currency)` at the plan's credit rate,
    /// in burn order. A pool never draws on another pool or on the global pool.
    /// Usage beyond the balance goes to the pool's overdraft (the balance turns
    /// negative), as in Stigg.
    ///
    /// @throws `INVALID_ARGUMENT`, `NOT_FOUND` (no subscription, or the feature has no rate on its plan), `IDEMPOTENCY_CONFLICT`, `STORE_ERROR`.
    /// @example
    /// ```ts
    /// const ack = await ledger.reportUsage({
    ///   customerId: "customer-demo-01", resourceId: "workspace-example-com",
    ///   featureId: "feature-ai-tokens", value: 150, idempotencyKey: "req-42",
    /// });
    /// ack.credit.consumed; // 150
    /// ```
    #[wasm_bindgen(js_name = reportUsage, unchecked_return_type = "Promise<ReportUsageResult>")]
    pub fn report_usage(&self, #[wasm_bindgen(unchecked_param_type = "ReportUsageInput")] input: JsValue) -> Promise {
        self.run_write("reportUsage", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.report_usage(input).await.map(written) }))
        })
    }

    /// Debits credits from a pool directly: no feature and no subscription needed.
    ///
    /// @throws `INVALID_ARGUMENT`, `NOT_FOUND` (unknown currency), `IDEMPOTENCY_CONFLICT`, `STORE_ERROR`.
    /// @example
    /// ```ts
    /// await ledger.consumeCredits({ customerId: "c1", currencyId: "ai-tokens", amount: 12.5, idempotencyKey: "job-7" });
    /// ```
    #[wasm_bindgen(js_name = consumeCredits, unchecked_return_type = "Promise<ConsumeCreditsResult>")]
    pub fn consume_credits(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ConsumeCreditsInput")] input: JsValue,
    ) -> Promise {
        self.run_write("consumeCredits", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.consume_credits(input).await.map(written) }))
        })
    }

    /// Voids a grant by id: its unused remainder leaves the pool, status
    /// `VOIDED`, one `CREDITS_VOIDED` event. A scheduled grant is cancelled.
    ///
    /// @throws `INVALID_ARGUMENT`, `NOT_FOUND` (unknown id), `INVALID_STATE` (already voided or expired, or an overdraft grant), `STORE_ERROR`.
    /// @example
    /// ```ts
    /// const voided = await ledger.voidCreditGrant({ id: grant.id });
    /// voided.status; // "VOIDED"
    /// ```
    #[wasm_bindgen(js_name = voidCreditGrant, unchecked_return_type = "Promise<GrantCreditsResult>")]
    pub fn void_credit_grant(
        &self,
        #[wasm_bindgen(unchecked_param_type = "VoidCreditGrantInput")] input: JsValue,
    ) -> Promise {
        self.run_write("voidCreditGrant", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.void_credit_grant(input).await.map(written) }))
        })
    }

    /// Whether a pool can pay `requestedUsage` credits now. `hasAccess` is false
    /// when the balance does not cover the request (or is ≤ 0 with no request),
    /// unless the subscription's plan credit says `hasSoftLimit: true`. Reads only.
    ///
    /// @throws `INVALID_ARGUMENT`, `NOT_FOUND` (unknown currency), `STORE_ERROR`, `CORRUPT_STATE`.
    /// @example
    /// ```ts
    /// const { hasAccess } = await ledger.getCreditEntitlement({
    ///   customerId: "customer-demo-01", resourceId: "workspace-example-com", currencyId: "ai-tokens", requestedUsage: 500,
    /// });
    /// ```
    #[wasm_bindgen(js_name = getCreditEntitlement, unchecked_return_type = "Promise<CreditEntitlement>")]
    pub fn get_credit_entitlement(
        &self,
        #[wasm_bindgen(unchecked_param_type = "GetCreditEntitlementInput")] input: JsValue,
    ) -> Promise {
        self.run("getCreditEntitlement", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.get_credit_entitlement(input).await.map(json_text) }))
        })
    }

    /// What `reportUsage` with these arguments would cost and leave, without
    /// writing anything: the browser's balance preview.
    ///
    /// @throws `INVALID_ARGUMENT`, `NOT_FOUND` (no subscription, or no rate for the feature), `STORE_ERROR`.
    /// @example
    /// ```ts
    /// const { estimates: [estimate] } = await ledger.estimateUsageCost({
    ///   customerId: "customer-demo-01", resourceId: "workspace-example-com", featureId: "feature-ai-tokens", value: 300,
    /// });
    /// estimate.balanceAfterEstimate;
    /// ```
    #[wasm_bindgen(js_name = estimateUsageCost, unchecked_return_type = "Promise<UsageCostEstimation>")]
    pub fn estimate_usage_cost(
        &self,
        #[wasm_bindgen(unchecked_param_type = "EstimateUsageCostInput")] input: JsValue,
    ) -> Promise {
        self.run("estimateUsageCost", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.estimate_usage_cost(input).await.map(json_text) }))
        })
    }

    /// Saves the automatic recharge configuration of a customer and currency.
    /// One configuration covers every pool of the customer in that currency: the
    /// global pool and every resource pool. After a debit leaves a pool below
    /// `thresholdValue`, that pool (and only it) is topped up to `targetBalance`.
    ///
    /// @throws `INVALID_ARGUMENT` (`thresholdValue` must be below `targetBalance`), `NOT_FOUND` (unknown currency), `STORE_ERROR`.
    /// @example
    /// ```ts
    /// await ledger.saveAutomaticRechargeConfiguration({
    ///   customerId: "customer-demo-01", currencyId: "ai-tokens", isEnabled: true,
    ///   thresholdValue: 20, targetBalance: 50, maxSpendLimit: 500, grantExpirationPeriod: "1_MONTH",
    /// });
    /// ```
    #[wasm_bindgen(js_name = saveAutomaticRechargeConfiguration, unchecked_return_type = "Promise<AutomaticRechargeConfigurationResult>")]
    pub fn save_automatic_recharge_configuration(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SaveAutomaticRechargeConfigurationInput")] input: JsValue,
    ) -> Promise {
        self.run_write("saveAutomaticRechargeConfiguration", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.save_automatic_recharge_configuration(input).await.map(written) }))
        })
    }

    /// The automatic recharge configuration of a customer and currency, or the
    /// defaults (disabled) when none was saved, with the month's spend so far.
    ///
    /// @throws `INVALID_ARGUMENT`, `NOT_FOUND` (unknown currency), `STORE_ERROR`, `CORRUPT_STATE`.
    /// @example
    /// ```ts
    /// const { isEnabled, currentMonthlySpend } = await ledger.getAutomaticRechargeConfiguration({
    ///   customerId: "customer-demo-01", currencyId: "ai-tokens",
    /// });
    /// ```
    #[wasm_bindgen(js_name = getAutomaticRechargeConfiguration, unchecked_return_type = "Promise<AutomaticRechargeConfiguration>")]
    pub fn get_automatic_recharge_configuration(
        &self,
        #[wasm_bindgen(unchecked_param_type = "GetAutomaticRechargeConfigurationInput")] input: JsValue,
    ) -> Promise {
        self.run("getAutomaticRechargeConfiguration", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.get_automatic_recharge_configuration(input).await.map(json_text) }))
        })
    }

    /// Reports that the payment of a recharge succeeded: its `PAYMENT_PENDING`
    /// grant becomes active now and expires after `grantExpirationPeriod`.
    /// Called for you when `onRecharge` resolves; confirming twice is harmless.
    ///
    /// @throws `NOT_FOUND` (unknown recharge), `INVALID_STATE` (it failed), `STORE_ERROR`.
    /// @example
    /// ```ts
    /// await ledger.confirmRecharge({ rechargeId: event.rechargeId });
    /// ```
    #[wasm_bindgen(js_name = confirmRecharge, unchecked_return_type = "Promise<GrantCreditsResult>")]
    pub fn confirm_recharge(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RechargeOutcomeInput")] input: JsValue,
    ) -> Promise {
        self.run_write("confirmRecharge", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.confirm_recharge(input).await.map(written) }))
        })
    }

    /// Reports that the payment of a recharge failed: its grant is voided, its
    /// spend released, and the configuration disabled (as Stigg does). Called
    /// for you when `onRecharge` throws or rejects.
    ///
    /// @throws `NOT_FOUND` (unknown recharge), `INVALID_STATE` (already confirmed or failed), `STORE_ERROR`.
    /// @example
    /// ```ts
    /// await ledger.failRecharge({ rechargeId, reason: "card declined" });
    /// ```
    #[wasm_bindgen(js_name = failRecharge, unchecked_return_type = "Promise<GrantCreditsResult>")]
    pub fn fail_recharge(
        &self,
        #[wasm_bindgen(unchecked_param_type = "RechargeOutcomeInput")] input: JsValue,
    ) -> Promise {
        self.run_write("failRecharge", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.fail_recharge(input).await.map(written) }))
        })
    }

    /// Resolves once every recharge payment started by `onRecharge` has been
    /// recorded. In a Worker: `ctx.waitUntil(ledger.flush())`.
    ///
    /// @example
    /// ```ts
    /// await ledger.reportUsage(usage);
    /// await ledger.flush(); // the recharge it triggered is now ACTIVE (or failed)
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        self.hooks.flush()
    }

    /// Holds credit for a caller that will know its real cost later (an LLM
    /// call): the amount stops being available — entitlement checks, estimates,
    /// `requireBalance` debits and other reservations see it as taken — but
    /// nothing is consumed until `settleReservation`. Past `expiresAt` it
    /// releases itself. Refused with `INSUFFICIENT_CREDITS` when the available
    /// balance does not cover it.
    ///
    /// @throws `INVALID_ARGUMENT`, `NOT_FOUND` (unknown currency), `INSUFFICIENT_CREDITS`, `LIMIT_EXCEEDED`, `IDEMPOTENCY_CONFLICT`, `STORE_ERROR`.
    /// @example
    /// ```ts
    /// const { reservationId } = await ledger.reserveCredits({
    ///   customerId: "c1", resourceId: "ws-1", currencyId: "ai-tokens", amount: 1000, ttlMs: 60_000, idempotencyKey: "req-7",
    /// });
    /// ```
    #[wasm_bindgen(js_name = reserveCredits, unchecked_return_type = "Promise<CreditReservation>")]
    pub fn reserve_credits(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ReserveCreditsInput")] input: JsValue,
    ) -> Promise {
        self.run_write("reserveCredits", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.reserve_credits(input).await.map(written) }))
        })
    }

    /// Consumes what was actually used (at most the reserved amount) through
    /// the burn order, with ledger events, and returns the rest. A reservation
    /// resolves once: settling twice, or after release or expiry, is `INVALID_STATE`.
    ///
    /// @throws `INVALID_ARGUMENT` (more than reserved), `NOT_FOUND`, `INVALID_STATE`, `STORE_ERROR`.
    /// @example
    /// ```ts
    /// const { settledAmount, releasedAmount } = await ledger.settleReservation({ reservationId, amount: 640 });
    /// ```
    #[wasm_bindgen(js_name = settleReservation, unchecked_return_type = "Promise<ReservationResolution>")]
    pub fn settle_reservation(
        &self,
        #[wasm_bindgen(unchecked_param_type = "SettleReservationInput")] input: JsValue,
    ) -> Promise {
        self.run_write("settleReservation", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.settle_reservation(input).await.map(written) }))
        })
    }

    /// Returns everything a reservation held; nothing is consumed.
    ///
    /// @throws `NOT_FOUND`, `INVALID_STATE` (already settled, released or expired), `STORE_ERROR`.
    /// @example
    /// ```ts
    /// await ledger.releaseReservation({ reservationId });
    /// ```
    #[wasm_bindgen(js_name = releaseReservation, unchecked_return_type = "Promise<ReservationResolution>")]
    pub fn release_reservation(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ReleaseReservationInput")] input: JsValue,
    ) -> Promise {
        self.run_write("releaseReservation", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.release_reservation(input).await.map(written) }))
        })
    }

    /// Credits consumed between `startDate` and `endDate`, per group (by
    /// `"featureId"` and/or dimension keys, up to 3) and per UTC hour, day or
    /// month, computed from the ledger. Reads only.
    ///
    /// @throws `INVALID_ARGUMENT` (dates, `groupBy`), `STORE_ERROR`, `CORRUPT_STATE`.
    /// @example
    /// ```ts
    /// const { series } = await ledger.getCreditUsage({
    ///   customerId: "c1", resourceId: "ws-1", startDate: "2026-11-01", endDate: "2026-12-01", groupBy: ["featureId", "model"],
    /// });
    /// ```
    #[wasm_bindgen(js_name = getCreditUsage, unchecked_return_type = "Promise<CreditUsageReport>")]
    pub fn get_credit_usage(
        &self,
        #[wasm_bindgen(unchecked_param_type = "GetCreditUsageInput")] input: JsValue,
    ) -> Promise {
        self.run("getCreditUsage", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.get_credit_usage(input).await.map(json_text) }))
        })
    }

    /// Moves a subscription to another resource of the same customer: it and
    /// its future recurring grants belong to the destination from then on;
    /// credits it already granted stay in the pool that received them.
    ///
    /// @throws `NOT_FOUND` (unknown subscription), `INVALID_ARGUMENT`, `INVALID_STATE` (the destination has its own subscription), `STORE_ERROR`.
    /// @example
    /// ```ts
    /// await ledger.transferSubscriptionToResource({ subscriptionId: sub.id, destinationResourceId: "workspace-new" });
    /// ```
    #[wasm_bindgen(js_name = transferSubscriptionToResource, unchecked_return_type = "Promise<TransferSubscriptionResult>")]
    pub fn transfer_subscription_to_resource(
        &self,
        #[wasm_bindgen(unchecked_param_type = "TransferSubscriptionToResourceInput")] input: JsValue,
    ) -> Promise {
        self.run_write("transferSubscriptionToResource", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.transfer_subscription_to_resource(input).await.map(written) }))
        })
    }

    /// The balance and lifetime totals of one pool. Reads only.
    ///
    /// @throws `INVALID_ARGUMENT`, `NOT_FOUND` (unknown currency), `STORE_ERROR`, `CORRUPT_STATE`.
    /// @example
    /// ```ts
    /// const { currentBalance } = await ledger.getCreditBalance({
    ///   customerId: "customer-demo-01", resourceId: "workspace-example-com", currencyId: "ai-tokens",
    /// });
    /// ```
    #[wasm_bindgen(js_name = getCreditBalance, unchecked_return_type = "Promise<CreditBalance>")]
    pub fn get_credit_balance(
        &self,
        #[wasm_bindgen(unchecked_param_type = "GetCreditBalanceInput")] input: JsValue,
    ) -> Promise {
        self.run("getCreditBalance", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.get_credit_balance(input).await.map(json_text) }))
        })
    }

    /// The append-only ledger of a pool (or of every currency of a resource),
    /// newest first unless `order: "ASC"`; page on with `nextCursor`. One
    /// `CREDITS_CONSUMED` event per grant a usage report drew from.
    ///
    /// @throws `INVALID_ARGUMENT` (bad `limit` or `cursor`), `STORE_ERROR`, `CORRUPT_STATE`.
    /// @example
    /// ```ts
    /// const { events, nextCursor } = await ledger.getCreditLedger({
    ///   customerId: "customer-demo-01", resourceId: "workspace-example-com", order: "ASC", limit: 50,
    /// });
    /// ```
    #[wasm_bindgen(js_name = getCreditLedger, unchecked_return_type = "Promise<CreditLedgerPage>")]
    pub fn get_credit_ledger(
        &self,
        #[wasm_bindgen(unchecked_param_type = "GetCreditLedgerInput")] input: JsValue,
    ) -> Promise {
        self.run("getCreditLedger", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.get_credit_ledger(input).await.map(json_text) }))
        })
    }

    /// The grants of a pool (or of every currency of a resource) with their live
    /// `status` and `consumedAmount`, newest first.
    ///
    /// @throws `INVALID_ARGUMENT`, `STORE_ERROR`, `CORRUPT_STATE`.
    /// @example
    /// ```ts
    /// const { grants } = await ledger.getCreditGrants({ customerId: "customer-demo-01", resourceId: "workspace-example-com" });
    /// ```
    #[wasm_bindgen(js_name = getCreditGrants, unchecked_return_type = "Promise<CreditGrantsPage>")]
    pub fn get_credit_grants(
        &self,
        #[wasm_bindgen(unchecked_param_type = "GetCreditGrantsInput")] input: JsValue,
    ) -> Promise {
        self.run("getCreditGrants", input, |ledger, text| {
            let input = read_input(text)?;
            Ok(Box::pin(async move { ledger.get_credit_grants(input).await.map(json_text) }))
        })
    }
}
