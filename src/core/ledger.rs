//! `Ledger`: the operations of the public API, over any `Store`.
//!
//! Each write operation runs the same protocol (see HACKING.md):
//! 1. take the scope's in-instance lock;
//! 2. read the scope head (the commit record) and, for a keyed operation not in
//!    the head's recent window, its idempotency record;
//! 3. apply the clock and the operation to the head in memory (pure code);
//! 4. write the touched ledger pages, then an evicted idempotency record, then
//!    the head. The head write is the commit: until it lands, nothing written
//!    before it is reachable, so a failure anywhere leaves the scope as it was.
//!
//! Reads take no lock: they read the head and the pages it names, and apply the
//! clock to a copy, so they never write and always see a committed snapshot.

use super::sorted_map::SortedMap;
use crate::prelude::*;
use alloc::rc::Rc;
use core::any::Any;
use core::cell::RefCell;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::amount::{describe_number, micros_to_f64, multiply_micros_ceil};
use super::api::*;
use super::catalog::{check_text, Catalog, CatalogInput};
use super::commit::{Applied, CommitRecord, WriteSet};
use super::error::{LedgerError, LedgerResult};
use super::events::{
    derive as derive_events, EventBody, EventSink, HostEvent, USAGE_LOW_THRESHOLDS_DEFAULT, USAGE_LOW_THRESHOLDS_MAX,
};
use super::formula::DimensionValue;
use super::idempotency::{Claim, IdempotencyRecord, KeyEntry, OperationKind, IDEMPOTENCY_RECENT_MAX, RECORD_SCHEMA};
use super::json::{self, ObjectWriter, ToJson};
use super::keys::{
    account_key, check_id, check_key_prefix, grant_index_key, reservation_index_key, subscription_index_key, Scope,
    KEY_PREFIX_DEFAULT,
};
use super::ledger_event::{page_of, EventKind, EventRecord, LedgerPage};
use super::limits::{
    COMMIT_ATTEMPTS_MAX, EVENTS_PER_OPERATION_MAX, LEDGER_PAGE_EVENTS, LEDGER_TAIL_EVENTS_MAX, METADATA_ENTRIES_MAX,
    PRIORITY_MAX, RECORDS_CACHED_MAX, RESERVATION_TTL_MS_MAX, TIME_MS_MAX,
};
use super::locks::ScopeLocks;
use super::pool::{Grant, GrantIds, GrantStatus, GrantType, Pool, Reservation};
use super::recharge::{
    month_of, recharge_amount, validate_config, AccountState, GetRechargeConfigInput, GrantExpirationPeriod,
    PendingRecharge, RechargeConfigOutput, RechargeOutcomeInput, SaveRechargeConfigInput, PENDING_RECHARGES_MAX,
};
use super::scope::{ScopeHead, SubscriptionState};
use super::scope_index::{subscription_of_recurring_grant, ScopeIndexRecord};
use super::store::{Environment, GetFailure, Store};
use super::time::{check_ms, format_iso, month_start, UnixMs};

/// A write's step with its result type erased (into `Transaction::output`).
type ErasedStep<'a> = dyn FnMut(&mut Transaction) -> LedgerResult<Option<KeyEntry>> + 'a;

/// A future behind a pointer (see `Ledger::get`).
type Boxed<'a, T> = core::pin::Pin<Box<dyn core::future::Future<Output = T> + 'a>>;

/// Pages one ledger query may read before it returns what it found with a cursor.
const LEDGER_QUERY_PAGES_MAX: u64 = 32;

/// Pages one usage breakdown may read (32,768 ledger rows).
const USAGE_QUERY_PAGES_MAX: u64 = 512;

/// Keys one usage breakdown may group by.
const USAGE_GROUP_BY_MAX: usize = 3;

/// The credit ledger over a host store. All methods take `&self`: concurrent
/// calls are safe, and calls on one scope are serialised by `ScopeLocks`.
#[derive(Debug)]
pub struct Ledger<S: Store, E: Environment> {
    store: S,
    env: E,
    catalog: Catalog,
    key_prefix: String,
    locks: ScopeLocks,
    usage_low_thresholds: Vec<u32>,
    cache: RecordCache,
}

/// When this instance may answer from what it committed or read before,
/// without a `get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Every operation reads the store (several instances, no compare-and-set).
    None,
    /// Writes start from the cached record, and compare-and-set refuses them
    /// if another writer moved on; reads still go to the store.
    Validated,
    /// This instance is the store's only writer (a Durable Object): writes
    /// and reads alike use the cache, so a warm pool needs no `get` at all.
    Exclusive,
}

/// Scope heads and accounts as last committed or read by this instance,
/// bounded (`RECORDS_CACHED_MAX` each; a full cache starts over).
#[derive(Debug)]
struct RecordCache {
    mode: CacheMode,
    heads: RefCell<SortedMap<Rc<ScopeHead>>>,
    accounts: RefCell<SortedMap<AccountState>>,
}

impl RecordCache {
    fn head(&self, key: &str, for_write: bool) -> Option<Rc<ScopeHead>> {
        let usable = match self.mode {
            CacheMode::None => false,
            CacheMode::Validated => for_write,
            CacheMode::Exclusive => true,
        };
        if !usable {
            return None;
        }
        self.heads.borrow().get(key).cloned()
    }

    fn keep_head(&self, key: &str, head: &Rc<ScopeHead>) {
        if self.mode == CacheMode::None {
            return;
        }
        let mut heads = self.heads.borrow_mut();
        if heads.len() >= RECORDS_CACHED_MAX && !heads.contains_key(key) {
            *heads = SortedMap::new();
        }
        heads.insert(key.to_string(), Rc::clone(head));
    }

    fn forget_head(&self, key: &str) {
        self.heads.borrow_mut().remove(key);
    }

    fn account(&self, key: &str, for_write: bool) -> Option<AccountState> {
        let usable = self.mode == CacheMode::Exclusive || (self.mode == CacheMode::Validated && for_write);
        if !usable {
            return None;
        }
        self.accounts.borrow().get(key).cloned()
    }

    fn keep_account(&self, key: &str, account: &AccountState) {
        if self.mode == CacheMode::None {
            return;
        }
        let mut accounts = self.accounts.borrow_mut();
        if accounts.len() >= RECORDS_CACHED_MAX && !accounts.contains_key(key) {
            *accounts = SortedMap::new();
        }
        accounts.insert(key.to_string(), account.clone());
    }

    fn forget_account(&self, key: &str) {
        self.accounts.borrow_mut().remove(key);
    }
}

/// A write operation's answer, the events it committed, and the recharges
/// whose payment the host must now collect.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteResult<T> {
    pub result: T,
    pub events: Vec<HostEvent>,
    pub recharges: Vec<RechargeRequest>,
}

impl<T: ToJson> ToJson for WriteResult<T> {
    /// The result's fields, then `"events":[…]` (the recharges go to `onRecharge`).
    fn write_json(&self, out: &mut String) {
        self.result.write_json(out);
        assert!(out.pop() == Some('}'), "a result is a JSON object");
        out.push_str(if out.ends_with('{') { "\"events\":[" } else { ",\"events\":[" });
        for (index, event) in self.events.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            event.write_json(out);
        }
        out.push_str("]}");
    }
}

/// A payment the host must collect for an automatic recharge, then report
/// with `confirm_recharge` or `fail_recharge`.
#[derive(Debug, Clone, PartialEq)]
pub struct RechargeRequest {
    pub recharge_id: String,
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    pub amount: f64,
    pub automatic_recharge_configuration_id: String,
}

impl ToJson for RechargeRequest {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("rechargeId", &self.recharge_id).str("customerId", &self.customer_id);
        o.opt_str("resourceId", self.resource_id.as_deref()).str("currencyId", &self.currency_id);
        o.amount("amount", self.amount);
        o.str("automaticRechargeConfigurationId", &self.automatic_recharge_configuration_id);
        o.finish();
    }
}

#[cfg(test)]
mod uuid_tests {
    #[test]
    fn ids_are_version_4_uuids() {
        assert_eq!(
            super::uuid_from(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
            "01234567-89ab-4def-bedc-ba9876543210"
        );
    }
}

/// Fresh ids and creation sequence numbers for one operation. The ids come
/// from 128 random bits drawn once per operation, so every attempt of it
/// (after a compare-and-set conflict) names its new grants the same way and
/// leaves at most one set of index hints behind.
struct IdSource {
    stream: [u64; 2],
    drawn: u64,
    next_seq: u64,
}

impl IdSource {
    fn new<E: Environment>(env: &E, next_seq: u64) -> Self {
        Self { stream: [env.random_u64(), env.random_u64()], drawn: 0, next_seq }
    }
}

/// splitmix64's output function: a bijection of 64 bits with good avalanche.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl GrantIds for IdSource {
    fn next_grant_id(&mut self) -> String {
        self.drawn += 1;
        let step = self.drawn.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        uuid_from(mix64(self.stream[0].wrapping_add(step)), mix64(self.stream[1] ^ step))
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }
}

/// Formats 128 random bits as an RFC 4122 version-4 UUID, as Stigg's ids are.
fn uuid_from(high: u64, low: u64) -> String {
    let high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    // xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx, written by hand (no `{:x}` formatting machinery).
    let mut id = String::with_capacity(36);
    for (index, nibble) in
        (0..16).rev().map(|i| (high >> (4 * i)) & 0xF).chain((0..16).rev().map(|i| (low >> (4 * i)) & 0xF)).enumerate()
    {
        if matches!(index, 8 | 12 | 16 | 20) {
            id.push('-');
        }
        id.push(char::from(b"0123456789abcdef"[nibble as usize]));
    }
    id
}

/// The in-memory state of one write operation, handed to its pure step.
struct Transaction {
    head: ScopeHead,
    events: Vec<EventRecord>,
    now_ms: UnixMs,
    ids: IdSource,
    /// Host events the step itself decides (recharge outcomes), by currency.
    notes: Vec<(String, EventBody)>,
    /// Whether a subscription new to this head gets its index record here
    /// (a transfer moves the index itself, once the destination committed).
    index_new_subscription: bool,
    /// Existing grants to index under their own ids in this scope (the
    /// recurring grants a moving subscription leaves behind).
    index_grants: Vec<String>,
    /// The step's own result (its type is the operation's, erased here so
    /// the protocol is not generic over it).
    output: Option<Box<dyn Any>>,
}

impl Transaction {
    fn advance_clock(&mut self) -> LedgerResult<()> {
        self.head.advance_clock(self.now_ms, &mut self.ids, &mut self.events)
    }
}

/// How the storage protocol ended, before the operation's own result is added.
#[allow(clippy::large_enum_variant)]
enum Committed {
    Applied {
        head: Rc<ScopeHead>,
        now_ms: UnixMs,
        events: Vec<HostEvent>,
        recharges: Vec<RechargeRequest>,
        output: Option<Box<dyn Any>>,
    },
    Repeated {
        entry: KeyEntry,
        snapshot: Option<Grant>,
        head: Rc<ScopeHead>,
        now_ms: UnixMs,
    },
}

/// How one attempt of the protocol ended.
#[allow(clippy::large_enum_variant)]
enum Attempt {
    Done(Committed),
    /// A compare-and-set found the record at `key` moved on: read and try again.
    Conflict {
        key: String,
    },
}

/// A write operation's future: the shared protocol's, its result typed again.
struct WriteFuture<'a, T> {
    commit: Boxed<'a, LedgerResult<Committed>>,
    value: PhantomData<fn() -> T>,
}

impl<T: 'static> core::future::Future for WriteFuture<'_, T> {
    type Output = LedgerResult<Outcome<T>>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        match self.commit.as_mut().poll(context) {
            Poll::Ready(committed) => Poll::Ready(committed.map(Outcome::of)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: 'static> Outcome<T> {
    fn of(committed: Committed) -> Self {
        match committed {
            Committed::Applied { head, now_ms, events, recharges, output } => {
                let value = output.map(|output| output.downcast::<T>());
                let Some(Ok(value)) = value else { unreachable!("an applied write ran its step, whose result is a T") };
                Outcome::Applied { value: *value, head, now_ms, events, recharges }
            }
            Committed::Repeated { entry, snapshot, head, now_ms } => {
                Outcome::Repeated { entry, snapshot, head, now_ms }
            }
        }
    }
}

/// Whether a write takes the scope's lock or its caller already holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Locking {
    Take,
    Held,
}

/// How a write operation ended. Short-lived, so the size difference between
/// the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Outcome<T> {
    /// Applied and committed; `head` is the committed head.
    Applied { value: T, head: Rc<ScopeHead>, now_ms: UnixMs, events: Vec<HostEvent>, recharges: Vec<RechargeRequest> },
    /// A repeat of an earlier keyed operation: nothing was written.
    Repeated { entry: KeyEntry, snapshot: Option<Grant>, head: Rc<ScopeHead>, now_ms: UnixMs },
}

impl<S: Store, E: Environment> Ledger<S, E> {
    /// A ledger over `store`. Validates the catalog and the key prefix.
    pub fn new(store: S, env: E, catalog: CatalogInput, key_prefix: Option<&str>) -> LedgerResult<Self> {
        let key_prefix = key_prefix.unwrap_or(KEY_PREFIX_DEFAULT);
        check_key_prefix(key_prefix)?;
        Ok(Self {
            catalog: Catalog::from_input(catalog)?,
            key_prefix: key_prefix.to_string(),
            locks: ScopeLocks::default(),
            usage_low_thresholds: USAGE_LOW_THRESHOLDS_DEFAULT.to_vec(),
            cache: RecordCache {
                mode: if store.capabilities().compare_and_set { CacheMode::Validated } else { CacheMode::None },
                heads: RefCell::default(),
                accounts: RefCell::default(),
            },
            store,
            env,
        })
    }

    /// Declares this instance the store's only writer (one per Durable
    /// Object): heads and accounts it committed or read are kept in memory
    /// and trusted, so a warm pool costs no `get`. Another writer of the same
    /// store would then lose updates — keep it off unless that cannot happen.
    pub fn exclusive(mut self) -> Self {
        self.cache.mode = CacheMode::Exclusive;
        self
    }

    pub fn cache_mode(&self) -> CacheMode {
        self.cache.mode
    }

    /// Sets the low-balance thresholds (remaining-balance percentages, each in
    /// 1..=99, at most `USAGE_LOW_THRESHOLDS_MAX`); default 80, 50, 20.
    pub fn with_usage_low_thresholds(mut self, thresholds: &[f64]) -> LedgerResult<Self> {
        if thresholds.len() > USAGE_LOW_THRESHOLDS_MAX {
            return Err(LedgerError::invalid(
                "usageLowThresholds",
                format!("at most {USAGE_LOW_THRESHOLDS_MAX} thresholds"),
            ));
        }
        let mut checked = Vec::with_capacity(thresholds.len());
        for value in thresholds {
            if !crate::core::float::is_whole(*value) || !(1.0..=99.0).contains(value) {
                return Err(LedgerError::invalid(
                    "usageLowThresholds",
                    format!("must be whole percentages from 1 to 99, got {}", describe_number(*value)),
                ));
            }
            checked.push(*value as u32);
        }
        super::order::sort_by(&mut checked, |a, b| b.cmp(a));
        checked.dedup();
        self.usage_low_thresholds = checked;
        Ok(self)
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn env(&self) -> &E {
        &self.env
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    fn now_ms(&self) -> LedgerResult<UnixMs> {
        let now = self.env.now_ms().map_err(|reason| LedgerError::invalid("now", reason))?;
        check_ms("now", now)
    }

    // ----- Storage protocol -------------------------------------------------

    // Store calls and the commit protocol are boxed futures: one compiled
    // body each, awaited through a pointer, instead of a copy inlined into
    // every operation that awaits them (most of the .wasm's size, otherwise).

    fn get<'a>(&'a self, key: &'a str) -> Boxed<'a, LedgerResult<Option<String>>> {
        Box::pin(async move {
            self.store.get(key).await.map_err(|failure| match failure {
                GetFailure::Failed(reason) => Box::new(LedgerError::StoreError { key: key.to_string(), reason }),
                GetFailure::NotText(reason) => LedgerError::corrupt(key, reason),
            })
        })
    }

    fn put(&self, key: String, value: String) -> Boxed<'_, LedgerResult<()>> {
        Box::pin(async move {
            self.store.put(&key, value).await.map_err(|reason| Box::new(LedgerError::StoreError { key, reason }))
        })
    }

    fn apply_writes(&self, writes: WriteSet) -> Boxed<'_, LedgerResult<Applied>> {
        Box::pin(writes.apply(&self.store))
    }

    /// Writes an account (a commit record outside a scope commit), with
    /// compare-and-set where the store offers it. `Ok(false)`: a conflict.
    async fn put_account(&self, key: String, account: &AccountState, expected_version: u64) -> LedgerResult<bool> {
        let record = CommitRecord { key: key.clone(), value: account.encode(), expected_version };
        let set = WriteSet { before: Vec::new(), commits: vec![record] };
        let applied = self.apply_writes(set).await;
        match &applied {
            Ok(Applied::Written) => self.cache.keep_account(&key, account),
            _ => self.cache.forget_account(&key),
        }
        Ok(applied? == Applied::Written)
    }

    /// The scope's committed head, for reading (from the cache when exclusive).
    async fn load_head(&self, scope: &Scope) -> LedgerResult<ScopeHead> {
        Ok((*self.shared_head(scope, false).await?).clone())
    }

    /// The scope's head as last committed or read: from the cache when its
    /// mode allows (`for_write`: compare-and-set will check it), else the store.
    async fn shared_head(&self, scope: &Scope, for_write: bool) -> LedgerResult<Rc<ScopeHead>> {
        Ok(self.shared_head_from(scope, for_write).await?.0)
    }

    /// `shared_head`, and whether it came from the cache.
    async fn shared_head_from(&self, scope: &Scope, for_write: bool) -> LedgerResult<(Rc<ScopeHead>, bool)> {
        let key = scope.head_key(&self.key_prefix);
        if let Some(head) = self.cache.head(&key, for_write) {
            return Ok((head, true));
        }
        let head = Rc::new(match self.get(&key).await? {
            Some(text) => ScopeHead::decode(&key, scope, &text)?,
            None => ScopeHead::empty(scope),
        });
        self.cache.keep_head(&key, &head);
        Ok((head, false))
    }

    /// The committed events of page `page` of `head`'s ledger: from the head's
    /// tail, or from the stored page (written once, full, immutable).
    async fn load_page(&self, scope: &Scope, head: &ScopeHead, page: u64) -> LedgerResult<Vec<EventRecord>> {
        let first_seq = page * LEDGER_PAGE_EVENTS;
        let paged_count = head.paged_count();
        if first_seq >= paged_count {
            let start = ((first_seq - paged_count) as usize).min(head.tail.len());
            let end = (start + LEDGER_PAGE_EVENTS as usize).min(head.tail.len());
            return Ok(head.tail[start..end].iter().map(|event| EventRecord::clone(event)).collect());
        }
        let key = scope.page_key(&self.key_prefix, page);
        let text = self.get(&key).await?.ok_or_else(|| {
            Box::new(LedgerError::StoreError {
                key: key.clone(),
                reason: "a ledger page the scope head names is not in the store (a stale read, or the store lost it)"
                    .to_string(),
            })
        })?;
        Ok(LedgerPage::decode(&key, page, &text)?.events)
    }

    /// A customer's account in one currency (`for_write`: see `shared_head`).
    async fn load_account_for(
        &self,
        customer_id: &str,
        currency_id: &str,
        for_write: bool,
    ) -> LedgerResult<AccountState> {
        let key = account_key(&self.key_prefix, customer_id, currency_id);
        if let Some(account) = self.cache.account(&key, for_write) {
            return Ok(account);
        }
        let account = match self.get(&key).await? {
            Some(text) => AccountState::decode(&key, customer_id, currency_id, &text)?,
            None => AccountState::empty(customer_id, currency_id),
        };
        self.cache.keep_account(&key, &account);
        Ok(account)
    }

    async fn load_account(&self, customer_id: &str, currency_id: &str) -> LedgerResult<AccountState> {
        self.load_account_for(customer_id, currency_id, true).await
    }

    /// Looks `claim` up among the remembered keys of the scope.
    async fn find_key(
        &self,
        scope: &Scope,
        head: &ScopeHead,
        claim: &Claim,
    ) -> LedgerResult<Option<(KeyEntry, Option<Grant>)>> {
        if let Some(entry) = head.recent_keys.iter().find(|entry| entry.key == claim.key) {
            return Ok(Some((KeyEntry::clone(entry), None)));
        }
        let key = scope.idempotency_key(&self.key_prefix, &claim.key);
        match self.get(&key).await? {
            Some(text) => {
                let record = IdempotencyRecord::decode(&key, &claim.key, &text)?;
                Ok(Some((record.entry, record.grant_snapshot)))
            }
            None => Ok(None),
        }
    }

    /// Runs one write operation: lock, read, apply `step`, write, commit.
    fn write<'a, T: 'static>(
        &'a self,
        scope: &'a Scope,
        claim: Option<&'a Claim>,
        step: impl FnMut(&mut Transaction) -> LedgerResult<(T, Option<KeyEntry>)> + 'a,
    ) -> WriteFuture<'a, T> {
        self.write_as(scope, claim, Locking::Take, step)
    }

    /// `write`, taking the scope's lock or not (`Locking::Held`: the caller
    /// holds it). The protocol itself (`commit`, the lock included) is
    /// compiled once; the step's own result type is erased into the
    /// transaction (`tx.output`), so only this adapter and `WriteFuture`'s
    /// small `poll` are generic, with no state machine of their own. The step
    /// may run more than once (after a conflict); the last run's value counts.
    fn write_as<'a, T: 'static>(
        &'a self,
        scope: &'a Scope,
        claim: Option<&'a Claim>,
        locking: Locking,
        mut step: impl FnMut(&mut Transaction) -> LedgerResult<(T, Option<KeyEntry>)> + 'a,
    ) -> WriteFuture<'a, T> {
        let erased = move |tx: &mut Transaction| -> LedgerResult<Option<KeyEntry>> {
            let (result, entry) = step(tx)?;
            tx.output = Some(Box::new(result));
            Ok(entry)
        };
        WriteFuture { commit: self.commit(scope, claim, locking, Box::new(erased)), value: PhantomData }
    }

    /// The storage protocol of every write operation (see the module docs):
    /// attempts until one commits, re-reading after each conflict.
    fn commit<'a>(
        &'a self,
        scope: &'a Scope,
        claim: Option<&'a Claim>,
        locking: Locking,
        mut step: Box<ErasedStep<'a>>,
    ) -> Boxed<'a, LedgerResult<Committed>> {
        Box::pin(async move {
            let _guard = match locking {
                Locking::Take => Some(self.locks.lock(scope.stem(&self.key_prefix)).await),
                Locking::Held => None,
            };
            self.commit_attempts(scope, claim, &mut *step).await
        })
    }

    async fn commit_attempts(
        &self,
        scope: &Scope,
        claim: Option<&Claim>,
        step: &mut ErasedStep<'_>,
    ) -> LedgerResult<Committed> {
        let mut conflict_key = String::new();
        let ids_stream = [self.env.random_u64(), self.env.random_u64()];
        for _attempt in 0..COMMIT_ATTEMPTS_MAX {
            match self.commit_once(scope, claim, ids_stream, step).await? {
                Attempt::Done(committed) => return Ok(committed),
                Attempt::Conflict { key } => conflict_key = key,
            }
        }
        Err(Box::new(LedgerError::Conflict { key: conflict_key, attempts: COMMIT_ATTEMPTS_MAX }))
    }

    /// One read–apply–write attempt of a write operation.
    async fn commit_once(
        &self,
        scope: &Scope,
        claim: Option<&Claim>,
        ids_stream: [u64; 2],
        step: &mut ErasedStep<'_>,
    ) -> LedgerResult<Attempt> {
        let now_ms = self.now_ms()?;
        let (before, cached) = self.shared_head_from(scope, true).await?;
        if let Some(claim) = claim {
            if let Some((entry, snapshot)) = self.find_key(scope, &before, claim).await? {
                claim.check_repeat(&entry)?;
                let (head, _) = self.advanced_copy((*before).clone(), now_ms)?;
                return Ok(Attempt::Done(Committed::Repeated { entry, snapshot, head: Rc::new(head), now_ms }));
            }
        }
        let mut tx = Transaction {
            ids: IdSource { stream: ids_stream, drawn: 0, next_seq: before.grant_seq },
            head: (*before).clone(),
            events: Vec::new(),
            now_ms,
            notes: Vec::new(),
            index_new_subscription: true,
            index_grants: Vec::new(),
            output: None,
        };
        tx.advance_clock()?;
        let key_entry = match step(&mut tx) {
            Ok(entry) => entry,
            // A refusal writes nothing, so no compare-and-set would catch a
            // cached head another writer has moved past: refuse only on what
            // the store holds (an exclusive instance's cache is what it holds).
            Err(_) if cached && self.cache.mode == CacheMode::Validated => {
                let key = scope.head_key(&self.key_prefix);
                self.cache.forget_head(&key);
                return Ok(Attempt::Conflict { key });
            }
            Err(error) => return Err(error),
        };
        tx.advance_clock()?;
        let mut writes = WriteSet::default();
        let mut sink = EventSink::new(scope, &scope.stem(&self.key_prefix), before.version + 1);
        for (currency_id, body) in core::mem::take(&mut tx.notes) {
            sink.push(&currency_id, now_ms, body);
        }
        let mut recharges = Vec::new();
        let mut recharge_events = Vec::new();
        let mut _account_guards = Vec::new();
        let mut written_accounts = Vec::new();
        for currency_id in debited_currencies(&before, &tx.head) {
            let account_key = account_key(&self.key_prefix, &scope.customer_id, &currency_id);
            _account_guards.push(self.locks.lock(account_key.clone()).await);
            let mut account = self.load_account(&scope.customer_id, &currency_id).await?;
            let read_version = account.version;
            let single_writer = !self.store.capabilities().compare_and_set;
            let pool = tx.head.pool(&currency_id);
            let released = release_phantom_recharges(&mut account, scope, before.version, single_writer, pool);
            let request = plan_recharge(&mut tx, scope, &currency_id, &mut account, &mut recharge_events)?;
            if request.is_some() || released {
                account.version = read_version + 1;
                let value = account.encode();
                writes.commits.push(CommitRecord { key: account_key.clone(), value, expected_version: read_version });
                written_accounts.push((account_key, account));
            }
            recharges.extend(request);
        }
        let index_subscription = tx.index_new_subscription;
        let index_grants = core::mem::take(&mut tx.index_grants);
        let Transaction { mut head, events, ids, output, .. } = tx;
        let evicted = self.remember_key(&mut head, key_entry);
        head.prune_finished();
        for pool in &head.pools {
            if let Err(reason) = pool.check_invariants() {
                panic!("credit-pools invariant broken after an operation: {reason}");
            }
        }
        if events.len() > EVENTS_PER_OPERATION_MAX {
            return Err(LedgerError::limit("ledger events of one operation", EVENTS_PER_OPERATION_MAX));
        }
        head.grant_seq = ids.next_seq;
        head.version = before.version + 1;
        head.updated_at_ms = now_ms;
        derive_events(&before, &mut head, &events, now_ms, &self.usage_low_thresholds, &mut sink);
        for (currency_id, body) in recharge_events {
            sink.push(&currency_id, now_ms, body);
        }
        self.flush_and_append(scope, &mut head, events, &mut writes.before);
        let subscription_before = before.subscription.as_ref().map(|s| s.id.clone());
        let subscription_before =
            if index_subscription { subscription_before } else { head.subscription.as_ref().map(|s| s.id.clone()) };
        let extra_keys = index_grants.iter().map(|grant_id| grant_index_key(&self.key_prefix, grant_id));
        for key in self.new_index_keys(&before, &head, subscription_before.as_deref()).into_iter().chain(extra_keys) {
            writes.before.push((key, ScopeIndexRecord::new(scope).encode()));
        }
        if let Some(record) = evicted {
            writes.before.push((scope.idempotency_key(&self.key_prefix, &record.entry.key), record.encode()));
        }
        // Accounts were pushed above, so the head is the last commit record.
        // A recharge's spend is counted before the head commits: if the head
        // never lands, the account holds a reservation the next debit of this
        // scope finds void (see `release_phantom_recharges`); until then the
        // monthly cap errs toward spending less, never more.
        let head_key = scope.head_key(&self.key_prefix);
        let head_record =
            CommitRecord { key: head_key.clone(), value: head.encode(), expected_version: before.version };
        writes.commits.push(head_record);
        let applied = self.apply_writes(writes).await;
        if !matches!(applied, Ok(Applied::Written)) {
            // Refused, or failed with the outcome unknown: read the store next time.
            self.cache.forget_head(&head_key);
            for (key, _) in &written_accounts {
                self.cache.forget_account(key);
            }
            return match applied? {
                Applied::Conflict { key } => Ok(Attempt::Conflict { key }),
                Applied::Written => unreachable!("matched above"),
            };
        }
        let head = Rc::new(head);
        self.cache.keep_head(&head_key, &head);
        for (key, account) in &written_accounts {
            self.cache.keep_account(key, account);
        }
        Ok(Attempt::Done(Committed::Applied { head, now_ms, events: sink.events, recharges, output }))
    }

    /// Moves every full page of committed events out of `head`'s tail into a
    /// page write, then appends this operation's `events` to the tail. Pages
    /// hold only events an earlier head committed, so every writer that writes
    /// one writes the same bytes: a page never changes once it exists.
    fn flush_and_append(
        &self,
        scope: &Scope,
        head: &mut ScopeHead,
        events: Vec<EventRecord>,
        writes: &mut Vec<(String, String)>,
    ) {
        let page_events = LEDGER_PAGE_EVENTS as usize;
        let full_pages = head.tail.len() / page_events;
        let first_page = page_of(head.paged_count());
        let rest = head.tail.split_off(full_pages * page_events);
        let flushed = core::mem::replace(&mut head.tail, rest);
        for (page, chunk) in (first_page..).zip(flushed.chunks(page_events)) {
            assert_eq!(chunk.len(), page_events);
            let value = LedgerPage::encode_committed(page, chunk);
            writes.push((scope.page_key(&self.key_prefix, page), value));
        }
        head.event_count += events.len() as u64;
        head.tail.extend(events.into_iter().map(EventRecord::committed));
        assert!(head.tail.len() <= LEDGER_TAIL_EVENTS_MAX);
        assert_eq!(head.paged_count() % LEDGER_PAGE_EVENTS, 0);
    }

    /// Index keys for what this operation created: grants a caller can void by
    /// id (recurring grants are found through their subscription) and a new
    /// subscription. Hints, written before the head: lookups verify them.
    fn new_index_keys(&self, before: &ScopeHead, head: &ScopeHead, subscription_before: Option<&str>) -> Vec<String> {
        let mut keys: Vec<String> = head
            .pools
            .iter()
            .flat_map(|pool| pool.grants.iter())
            .filter(|grant| grant.seq >= before.grant_seq && grant.grant_type != GrantType::Recurring)
            .map(|grant| grant_index_key(&self.key_prefix, &grant.id))
            .collect();
        if let Some(subscription) = &head.subscription {
            if subscription_before != Some(subscription.id.as_str()) {
                keys.push(subscription_index_key(&self.key_prefix, &subscription.id));
            }
        }
        for pool in &head.pools {
            let old = before.pool(&pool.currency_id);
            for reservation in &pool.reservations {
                if old.is_none_or(|old| !old.reservations.iter().any(|r| r.id == reservation.id)) {
                    keys.push(reservation_index_key(&self.key_prefix, &reservation.id));
                }
            }
        }
        keys
    }

    /// Finds the scope holding a reservation through its index record.
    async fn scope_of_reservation(&self, reservation_id: &str) -> LedgerResult<Scope> {
        let key = reservation_index_key(&self.key_prefix, reservation_id);
        match self.get(&key).await? {
            Some(text) => ScopeIndexRecord::decode(&key, &text),
            None => Err(LedgerError::not_found(format!("reservation \"{reservation_id}\""))),
        }
    }

    /// Finds the scope holding `grant_id` through the ledger-wide indexes.
    /// Recurring grants are found through their subscription's index, unless
    /// the subscription moved away after granting them: a transfer indexes the
    /// grants it leaves behind under their own ids, which are looked up first.
    async fn scope_of_grant(&self, grant_id: &str) -> LedgerResult<Scope> {
        let own_key = grant_index_key(&self.key_prefix, grant_id);
        if let Some(text) = self.get(&own_key).await? {
            return ScopeIndexRecord::decode(&own_key, &text);
        }
        let Some(subscription_id) = subscription_of_recurring_grant(grant_id) else {
            return Err(LedgerError::not_found(format!("grant \"{grant_id}\"")));
        };
        let key = subscription_index_key(&self.key_prefix, subscription_id);
        match self.get(&key).await? {
            Some(text) => ScopeIndexRecord::decode(&key, &text),
            None => Err(LedgerError::not_found(format!("grant \"{grant_id}\""))),
        }
    }

    /// Pushes a new key into the head's window; returns the record of the key it evicts.
    fn remember_key(&self, head: &mut ScopeHead, entry: Option<KeyEntry>) -> Option<IdempotencyRecord> {
        let entry = entry?;
        head.recent_keys.push(entry.committed());
        if head.recent_keys.len() <= IDEMPOTENCY_RECENT_MAX {
            return None;
        }
        let oldest = head.recent_keys.remove(0);
        let grant_snapshot =
            oldest.grant_id.as_deref().and_then(|id| head.find_grant(id)).map(|(_, grant)| grant.clone());
        Some(IdempotencyRecord { schema: RECORD_SCHEMA, entry: KeyEntry::clone(&oldest), grant_snapshot })
    }

    /// A copy of `head` brought to `now_ms`, and the events that would be
    /// written (not yet in the ledger). Reads use it; it writes nothing.
    fn advanced_copy(&self, mut head: ScopeHead, now_ms: UnixMs) -> LedgerResult<(ScopeHead, Vec<EventRecord>)> {
        let mut events = Vec::new();
        let mut ids = IdSource::new(&self.env, head.grant_seq);
        head.advance_clock(now_ms, &mut ids, &mut events)?;
        head.grant_seq = ids.next_seq;
        Ok((head, events))
    }

    async fn read_head(&self, scope: &Scope) -> LedgerResult<(ScopeHead, Vec<EventRecord>, UnixMs)> {
        let now_ms = self.now_ms()?;
        let head = self.load_head(scope).await?;
        let (head, pending) = self.advanced_copy(head, now_ms)?;
        Ok((head, pending, now_ms))
    }

    // ----- Operations -------------------------------------------------------

    /// Provisions `planId` for `(customerId, resourceId?)`. The scope's pools
    /// exist from then on; the plan's recurring credits for the current period
    /// are granted at once. A previous subscription of the scope is replaced and
    /// the unused part of its recurring grants is voided.
    pub async fn provision_subscription(
        &self,
        input: ProvisionSubscriptionInput,
    ) -> LedgerResult<WriteResult<ProvisionSubscriptionResult>> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        check_id("planId", &input.plan_id)?;
        let plan = self.catalog.plan(&input.plan_id)?.clone();
        let start_ms = input.start_date.as_ref().map(|d| d.to_ms("startDate")).transpose()?;
        let outcome = self
            .write(&scope, None, |tx| {
                let now_ms = tx.now_ms;
                void_subscription_grants(&mut tx.head, now_ms, &mut tx.events);
                let subscription = SubscriptionState {
                    id: format!("sub-{}", tx.ids.next_grant_id()),
                    plan_id: plan.id.clone(),
                    start_ms: start_ms.unwrap_or(now_ms),
                    created_at_ms: now_ms,
                    periods_granted: vec![-1; plan.credits.len()],
                    transferred_to: None,
                    credits: plan.credits.clone(),
                };
                for credit in &plan.credits {
                    tx.head.pool_mut(&credit.currency_id)?;
                }
                tx.head.subscription = Some(subscription);
                Ok(((), None))
            })
            .await?;
        let Outcome::Applied { head, now_ms, events, recharges, .. } = outcome else {
            unreachable!("provisioning carries no idempotency key")
        };
        let subscription =
            head.subscription.as_ref().unwrap_or_else(|| unreachable!("provisioning stores a subscription"));
        let result = ProvisionSubscriptionResult {
            id: subscription.id.clone(),
            status: "SUCCESS",
            subscription: SubscriptionOutput {
                id: subscription.id.clone(),
                customer_id: scope.customer_id.clone(),
                plan_id: subscription.plan_id.clone(),
                resource_id: scope.resource_id.clone(),
                status: subscription.status(now_ms),
                start_date: format_iso(subscription.start_ms),
            },
        };
        Ok(WriteResult { result, events, recharges })
    }

    /// Grants credits into the pool of `(customerId, resourceId?, currencyId)`.
    pub async fn grant_credits(&self, input: GrantCreditsInput) -> LedgerResult<WriteResult<GrantOutput>> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        let command = GrantCommand::validate(&input, &self.catalog)?;
        let claim =
            input.idempotency_key.as_deref().map(|key| Claim::new(key, OperationKind::Grant, &command.payload()));
        let currency_id = command.currency_id.clone();
        let outcome = self
            .write(&scope, claim.as_ref(), |tx| {
                let now_ms = tx.now_ms;
                let effective_at_ms = command.effective_at_ms.unwrap_or(now_ms);
                if let Some(expire_at_ms) = command.expire_at_ms {
                    if expire_at_ms <= now_ms.max(effective_at_ms) {
                        return Err(LedgerError::invalid("expireAt", "must be later than now and than effectiveAt"));
                    }
                }
                let grant = Grant {
                    id: tx.ids.next_grant_id(),
                    seq: tx.ids.next_seq(),
                    grant_type: command.grant_type,
                    status: GrantStatus::Scheduled,
                    amount_micros: command.amount_micros,
                    consumed_micros: 0,
                    priority: command.priority,
                    effective_at_ms,
                    expire_at_ms: command.expire_at_ms,
                    created_at_ms: now_ms,
                    voided_at_ms: None,
                    display_name: command.display_name.clone(),
                    comment: command.comment.clone(),
                    metadata: command.metadata.clone(),
                    subscription_id: None,
                    recharge_config_id: None,
                };
                let grant_id = grant.id.clone();
                tx.head.pool_mut(&command.currency_id)?.add_grant(grant)?;
                let entry = claim.as_ref().map(|c| key_entry(c, &command.currency_id, Some(grant_id.clone()), now_ms));
                Ok((grant_id, entry))
            })
            .await?;
        let (grant_id, head, snapshot, events, recharges) = match outcome {
            Outcome::Applied { value, head, events, recharges, .. } => (value, head, None, events, recharges),
            Outcome::Repeated { entry, snapshot, head, .. } => {
                (entry.grant_id.unwrap_or_default(), head, snapshot, Vec::new(), Vec::new())
            }
        };
        let grant = head
            .find_grant(&grant_id)
            .map(|(_, g)| g.clone())
            .or(snapshot)
            .ok_or_else(|| LedgerError::not_found(format!("grant \"{grant_id}\"")))?;
        let result = GrantOutput::new(&scope.customer_id, &scope.resource_id, &currency_id, &grant);
        Ok(WriteResult { result, events, recharges })
    }

    /// Reports `value` units of `featureId` and debits the scope's pool of the
    /// feature's currency at the plan's rate. Never refuses for lack of credits:
    /// a shortfall goes to the pool's overdraft grant.
    pub async fn report_usage(&self, input: ReportUsageInput) -> LedgerResult<WriteResult<ReportUsageResult>> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        check_id("featureId", &input.feature_id)?;
        let value_micros = input.value.positive_micros("value")?;
        check_optional_id("idempotencyKey", &input.idempotency_key)?;
        // Validated for Stigg compatibility; the ledger orders events by commit time.
        input.created_at.as_ref().map(|d| d.to_ms("createdAt")).transpose()?;
        check_dimensions(&input.dimensions)?;
        let stored_dimensions = canonical_dimensions(&input.dimensions);
        let require_balance = input.require_balance.unwrap_or(false);
        // What identifies the usage: feature, value and dimensions (they set the
        // cost). `requireBalance` only decides whether it may apply, so a retry
        // that adds or drops it is still the same usage.
        let mut payload = format!("{}|{}", input.feature_id, value_micros);
        if let Some(dimensions) = &stored_dimensions {
            payload.push('|');
            super::api::write_string_map(&mut payload, dimensions);
        }
        let claim = input.idempotency_key.as_deref().map(|key| Claim::new(key, OperationKind::Usage, &payload));
        let catalog = &self.catalog;
        let feature_id = input.feature_id.clone();
        let outcome = self
            .write(&scope, claim.as_ref(), |tx| {
                let (currency_id, cost_micros) =
                    price_usage(catalog, &tx.head, &scope, &feature_id, value_micros, &input.dimensions)?;
                let event_id = match &claim {
                    Some(claim) => claim.key.clone(),
                    None => format!("usage-{}", tx.ids.next_grant_id()),
                };
                let first_event = tx.events.len();
                let now_ms = tx.now_ms;
                let pool = tx.head.pool_mut(&currency_id)?;
                if require_balance {
                    pool.require_available(cost_micros)?;
                }
                if cost_micros > 0 {
                    pool.consume(cost_micros, now_ms, &mut tx.ids, &mut tx.events)?;
                }
                for event in &mut tx.events[first_event..] {
                    event.feature_id = Some(feature_id.clone());
                    event.event_id = Some(event_id.clone());
                    event.dimensions = stored_dimensions.clone();
                }
                let entry = claim.as_ref().map(|c| key_entry(c, &currency_id, None, now_ms));
                Ok(((currency_id, cost_micros), entry))
            })
            .await?;
        let (currency_id, consumed_micros, head, now_ms, events, recharges) = match outcome {
            Outcome::Applied { value: (currency_id, cost), head, now_ms, events, recharges } => {
                (currency_id, cost, head, now_ms, events, recharges)
            }
            Outcome::Repeated { entry, head, now_ms, .. } => {
                (entry.currency_id, 0, head, now_ms, Vec::new(), Vec::new())
            }
        };
        let result = ReportUsageResult {
            customer_id: scope.customer_id.clone(),
            resource_id: scope.resource_id.clone(),
            feature_id: input.feature_id,
            credit: usage_output(&head, &currency_id, consumed_micros, now_ms),
        };
        Ok(WriteResult { result, events, recharges })
    }

    /// Debits `amount` credits from a pool directly: no feature, no subscription.
    pub async fn consume_credits(&self, input: ConsumeCreditsInput) -> LedgerResult<WriteResult<ConsumeCreditsResult>> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        check_id("currencyId", &input.currency_id)?;
        self.catalog.currency(&input.currency_id)?;
        let amount_micros = input.amount.positive_micros("amount")?;
        check_id("idempotencyKey", &input.idempotency_key)?;
        input.created_at.as_ref().map(|d| d.to_ms("createdAt")).transpose()?;
        let claim = Claim::new(
            &input.idempotency_key,
            OperationKind::Consume,
            &format!("{}|{}", input.currency_id, amount_micros),
        );
        let outcome = self
            .write(&scope, Some(&claim), |tx| {
                let first_event = tx.events.len();
                let now_ms = tx.now_ms;
                let pool = tx.head.pool_mut(&input.currency_id)?;
                if input.require_balance.unwrap_or(false) {
                    pool.require_available(amount_micros)?;
                }
                pool.consume(amount_micros, now_ms, &mut tx.ids, &mut tx.events)?;
                for event in &mut tx.events[first_event..] {
                    event.event_id = Some(claim.key.clone());
                }
                Ok((amount_micros, Some(key_entry(&claim, &input.currency_id, None, now_ms))))
            })
            .await?;
        let (consumed_micros, head, now_ms, events, recharges) = match outcome {
            Outcome::Applied { value, head, now_ms, events, recharges } => (value, head, now_ms, events, recharges),
            Outcome::Repeated { head, now_ms, .. } => (0, head, now_ms, Vec::new(), Vec::new()),
        };
        let result = ConsumeCreditsResult {
            customer_id: scope.customer_id.clone(),
            resource_id: scope.resource_id.clone(),
            currency_id: input.currency_id.clone(),
            amount: micros_to_f64(consumed_micros),
            timestamp: format_iso(now_ms),
            credit: usage_output(&head, &input.currency_id, consumed_micros, now_ms),
        };
        Ok(WriteResult { result, events, recharges })
    }

    /// Voids a grant: its unused remainder leaves the pool (`CREDITS_VOIDED`).
    /// Voiding twice, or voiding an expired or overdraft grant, is `INVALID_STATE`.
    pub async fn void_credit_grant(&self, input: VoidCreditGrantInput) -> LedgerResult<WriteResult<GrantOutput>> {
        check_id("id", &input.id)?;
        let scope = self.scope_of_grant(&input.id).await?;
        let grant_id = input.id.clone();
        let outcome = self
            .write(&scope, None, |tx| {
                let now_ms = tx.now_ms;
                let pool = tx.head.pools.iter_mut().find(|pool| pool.grant(&grant_id).is_some()).ok_or_else(|| {
                    LedgerError::not_found(format!("grant \"{grant_id}\" (finished grants are kept only while recent)"))
                })?;
                let currency_id = pool.currency_id.clone();
                if pool.grant(&grant_id).is_some_and(|g| g.status == GrantStatus::PaymentPending) {
                    return Err(Box::new(LedgerError::InvalidState {
                        what: format!(
                            "grant \"{grant_id}\" is a recharge awaiting payment; report it with failRecharge"
                        ),
                    }));
                }
                pool.void(&grant_id, now_ms, &mut tx.events)?;
                // A copy: pruning after the step may drop the now-finished grant from the head.
                let voided = pool.grant(&grant_id).cloned();
                Ok(((currency_id, voided), None))
            })
            .await?;
        let Outcome::Applied { value: (currency_id, voided), head, events, recharges, .. } = outcome else {
            unreachable!("voiding carries no idempotency key")
        };
        let grant = head.find_grant(&input.id).map(|(_, g)| g.clone()).or(voided);
        let grant = grant.ok_or_else(|| LedgerError::not_found(format!("grant \"{}\"", input.id)))?;
        let result = GrantOutput::new(&scope.customer_id, &scope.resource_id, &currency_id, &grant);
        Ok(WriteResult { result, events, recharges })
    }

    /// Whether the pool can pay `requestedUsage` credits now (Stigg's credit
    /// entitlement). Reads only: nothing is reserved or written.
    pub async fn get_credit_entitlement(
        &self,
        input: GetCreditEntitlementInput,
    ) -> LedgerResult<CreditEntitlementOutput> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        check_id("currencyId", &input.currency_id)?;
        self.catalog.currency(&input.currency_id)?;
        let requested_micros = match &input.requested_usage {
            Some(amount) => amount.non_negative_micros("requestedUsage")?,
            None => 0,
        };
        let (head, _, now_ms) = self.read_head(&scope).await?;
        let empty = Pool::new(&input.currency_id);
        let pool = head.pool(&input.currency_id).unwrap_or(&empty);
        let balance_micros = pool.available_micros();
        let plan_credit = head.active_subscription().and_then(|sub| sub.credit_for(&input.currency_id, now_ms));
        let has_soft_limit = plan_credit.as_ref().is_some_and(|(credit, _)| credit.has_soft_limit);
        let covered = if requested_micros > 0 { balance_micros >= requested_micros } else { balance_micros > 0 };
        let has_access = covered || has_soft_limit;
        Ok(CreditEntitlementOutput {
            customer_id: scope.customer_id,
            resource_id: scope.resource_id,
            currency_id: input.currency_id,
            has_access,
            access_denied_reason: (!has_access).then_some("InsufficientCredits"),
            requested_usage: micros_to_f64(requested_micros),
            usage_limit: micros_to_f64(pool.granted_micros),
            current_usage: micros_to_f64(pool.consumed_micros),
            current_balance: micros_to_f64(pool.balance_micros()),
            reserved_amount: micros_to_f64(pool.reserved_micros()),
            has_soft_limit,
            usage_period_end: plan_credit.and_then(|(_, end)| end).map(format_iso),
        })
    }

    /// What `reportUsage` with these arguments would cost and leave, without
    /// writing anything (the browser's balance preview).
    pub async fn estimate_usage_cost(&self, input: EstimateUsageCostInput) -> LedgerResult<UsageCostEstimation> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        check_id("featureId", &input.feature_id)?;
        let value_micros = input.value.positive_micros("value")?;
        let (head, _, _) = self.read_head(&scope).await?;
        check_dimensions(&input.dimensions)?;
        let (currency_id, cost_micros) =
            price_usage(&self.catalog, &head, &scope, &input.feature_id, value_micros, &input.dimensions)?;
        let empty = Pool::new(&currency_id);
        let pool = head.pool(&currency_id).unwrap_or(&empty);
        let (balance_micros, reserved_micros) = (pool.balance_micros(), pool.reserved_micros());
        let after_micros = balance_micros - cost_micros;
        Ok(UsageCostEstimation {
            customer_id: scope.customer_id,
            resource_id: scope.resource_id,
            feature_id: input.feature_id,
            estimates: vec![CostEstimate {
                currency_id,
                estimated_cost: micros_to_f64(cost_micros),
                current_balance: micros_to_f64(balance_micros),
                balance_after_estimate: micros_to_f64(after_micros),
                would_overdraft: after_micros - reserved_micros < 0,
                reserved_amount: micros_to_f64(reserved_micros),
            }],
        })
    }

    /// Saves the automatic recharge configuration of `(customerId, currencyId)`;
    /// it covers every pool of the customer in that currency.
    pub async fn save_automatic_recharge_configuration(
        &self,
        input: SaveRechargeConfigInput,
    ) -> LedgerResult<WriteResult<RechargeConfigOutput>> {
        check_id("customerId", &input.customer_id)?;
        check_id("currencyId", &input.currency_id)?;
        self.catalog.currency(&input.currency_id)?;
        let now_ms = self.now_ms()?;
        let key = account_key(&self.key_prefix, &input.customer_id, &input.currency_id);
        let _guard = self.locks.lock(key.clone()).await;
        for _attempt in 0..COMMIT_ATTEMPTS_MAX {
            let mut account = self.load_account(&input.customer_id, &input.currency_id).await?;
            let read_version = account.version;
            let id = match &account.config {
                Some(config) => config.id.clone(),
                None => format!("arc-{}", uuid_from(self.env.random_u64(), self.env.random_u64())),
            };
            let config = validate_config(&input, id, now_ms)?;
            account.version = read_version + 1;
            let mut sink = account_sink(&account, &key);
            let body = EventBody::ConfigurationChanged {
                configuration_id: config.id.clone(),
                changed_by: "USER",
                is_enabled: config.is_enabled,
            };
            sink.push(&input.currency_id, now_ms, body);
            account.config = Some(config);
            if self.put_account(key.clone(), &account, read_version).await? {
                return Ok(WriteResult {
                    result: RechargeConfigOutput::new(&account, month_of(now_ms)),
                    events: sink.events,
                    recharges: Vec::new(),
                });
            }
        }
        Err(Box::new(LedgerError::Conflict { key, attempts: COMMIT_ATTEMPTS_MAX }))
    }

    /// The automatic recharge configuration of `(customerId, currencyId)`, or
    /// the defaults (disabled) when none was saved. Reads only.
    pub async fn get_automatic_recharge_configuration(
        &self,
        input: GetRechargeConfigInput,
    ) -> LedgerResult<RechargeConfigOutput> {
        check_id("customerId", &input.customer_id)?;
        check_id("currencyId", &input.currency_id)?;
        self.catalog.currency(&input.currency_id)?;
        let now_ms = self.now_ms()?;
        let account = self.load_account_for(&input.customer_id, &input.currency_id, false).await?;
        Ok(RechargeConfigOutput::new(&account, month_of(now_ms)))
    }

    /// The host collected the payment of `rechargeId`: the pending grant
    /// becomes active now (settling any overdraft) and expires after the
    /// configuration's `grantExpirationPeriod`. Confirming twice is harmless.
    pub async fn confirm_recharge(&self, input: RechargeOutcomeInput) -> LedgerResult<WriteResult<GrantOutput>> {
        self.finish_recharge(input, true).await
    }

    /// The host could not collect the payment of `rechargeId`: the pending
    /// grant is voided, its spend released, and the configuration disabled
    /// (as Stigg does after a failed payment).
    pub async fn fail_recharge(&self, input: RechargeOutcomeInput) -> LedgerResult<WriteResult<GrantOutput>> {
        self.finish_recharge(input, false).await
    }

    /// Confirms or fails a recharge: the account record first, then the scope.
    /// Both halves are idempotent, so a retry after a crash between them completes it.
    async fn finish_recharge(&self, input: RechargeOutcomeInput, paid: bool) -> LedgerResult<WriteResult<GrantOutput>> {
        check_id("rechargeId", &input.recharge_id)?;
        if let Some(reason) = &input.reason {
            check_text("reason", reason)?;
        }
        let scope = self.scope_of_grant(&input.recharge_id).await?;
        let _guard = self.locks.lock(scope.stem(&self.key_prefix)).await;
        let head = self.load_head(&scope).await?;
        let (pool, grant) = head
            .find_grant(&input.recharge_id)
            .ok_or_else(|| LedgerError::not_found(format!("recharge \"{}\"", input.recharge_id)))?;
        let (currency_id, status) = (pool.currency_id.clone(), grant.status);
        let Some(config_id) = grant.recharge_config_id.clone() else {
            return Err(Box::new(LedgerError::InvalidState {
                what: format!("grant \"{}\" was not created by automatic recharge", input.recharge_id),
            }));
        };
        match (status, paid) {
            (GrantStatus::PaymentPending, _) => {}
            (GrantStatus::Active | GrantStatus::Expired, true) => {
                // Already confirmed: answer without writing anything.
                let result = GrantOutput::new(&scope.customer_id, &scope.resource_id, &currency_id, grant);
                return Ok(WriteResult { result, events: Vec::new(), recharges: Vec::new() });
            }
            (status, _) => {
                return Err(Box::new(LedgerError::InvalidState {
                    what: format!("recharge \"{}\" is {}, not PAYMENT_PENDING", input.recharge_id, status.name()),
                }));
            }
        }
        let key = account_key(&self.key_prefix, &scope.customer_id, &currency_id);
        let _account_guard = self.locks.lock(key.clone()).await;
        let (expiration, account_events) =
            self.settle_recharge_account(&scope, &currency_id, &input.recharge_id, paid).await?;
        let recharge_id = input.recharge_id.clone();
        let reason = input.reason.clone();
        let outcome = self
            .write_as(&scope, None, Locking::Held, |tx| {
                let now_ms = tx.now_ms;
                let pool = tx.head.pool_mut(&currency_id)?;
                let amount = micros_to_f64(pool.grant(&recharge_id).map_or(0, |g| g.amount_micros));
                let was_pending = pool.grant(&recharge_id).is_some_and(|g| g.status == GrantStatus::PaymentPending);
                // Another writer may have resolved it since the head was read: then nothing is left to do.
                if was_pending && paid {
                    pool.confirm_payment(&recharge_id, now_ms, expiration.expire_at(now_ms))?;
                } else if was_pending {
                    pool.void(&recharge_id, now_ms, &mut tx.events)?;
                }
                if was_pending {
                    let status = if paid { "SUCCESS" } else { "FAILED" };
                    let body = EventBody::RechargeAttempted {
                        recharge_id: recharge_id.clone(),
                        configuration_id: config_id.clone(),
                        grant_id: recharge_id.clone(),
                        amount,
                        status,
                        reason: reason.clone(),
                    };
                    tx.notes.push((currency_id.clone(), body));
                }
                for body in &account_events {
                    tx.notes.push((currency_id.clone(), body.clone()));
                }
                // A copy: pruning after the step may drop a voided grant from the head.
                Ok((pool_grant_copy(&tx.head, &currency_id, &recharge_id), None))
            })
            .await?;
        let Outcome::Applied { value: copy, head, events, recharges, .. } = outcome else {
            unreachable!("recharge outcomes carry no idempotency key")
        };
        let grant = head.find_grant(&input.recharge_id).map(|(_, g)| g.clone()).or(copy);
        let grant = grant.ok_or_else(|| LedgerError::not_found(format!("recharge \"{}\"", input.recharge_id)))?;
        let result = GrantOutput::new(&scope.customer_id, &scope.resource_id, &currency_id, &grant);
        Ok(WriteResult { result, events, recharges })
    }

    /// The account half of confirming or failing a recharge: forgets its
    /// pending spend (releasing it when the payment failed) and, on failure,
    /// disables the configuration. Idempotent, and retried on a conflict.
    /// Returns the configuration's grant expiry and the events to report.
    async fn settle_recharge_account(
        &self,
        scope: &Scope,
        currency_id: &str,
        recharge_id: &str,
        paid: bool,
    ) -> LedgerResult<(GrantExpirationPeriod, Vec<EventBody>)> {
        let key = account_key(&self.key_prefix, &scope.customer_id, currency_id);
        for _attempt in 0..COMMIT_ATTEMPTS_MAX {
            let mut account = self.load_account(&scope.customer_id, currency_id).await?;
            let read_version = account.version;
            let expiration = account.config.as_ref().map_or(GrantExpirationPeriod::OneMonth, |c| c.grant_expiration);
            let now_ms = self.now_ms()?;
            let mut account_events = Vec::new();
            if let Some(index) = account.pending.iter().position(|p| p.recharge_id == recharge_id) {
                let pending = account.pending.remove(index);
                if !paid && account.spend_month == pending.month {
                    account.spend_micros = (account.spend_micros - pending.amount_micros).max(0);
                }
            }
            if let Some(config) = account.config.as_mut().filter(|config| !paid && config.is_enabled) {
                config.is_enabled = false;
                config.updated_at_ms = now_ms;
                account_events.push(EventBody::ConfigurationChanged {
                    configuration_id: config.id.clone(),
                    changed_by: "SYSTEM",
                    is_enabled: false,
                });
            }
            account.version = read_version + 1;
            if self.put_account(key.clone(), &account, read_version).await? {
                return Ok((expiration, account_events));
            }
        }
        Err(Box::new(LedgerError::Conflict { key, attempts: COMMIT_ATTEMPTS_MAX }))
    }

    /// Holds `amount` of a pool's credit for `ttlMs`: entitlement checks,
    /// estimates, `requireBalance` debits and other reservations see it as
    /// taken, but nothing is consumed until `settle_reservation`.
    pub async fn reserve_credits(&self, input: ReserveCreditsInput) -> LedgerResult<WriteResult<ReservationOutput>> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        check_id("currencyId", &input.currency_id)?;
        self.catalog.currency(&input.currency_id)?;
        let amount_micros = input.amount.positive_micros("amount")?;
        check_id("idempotencyKey", &input.idempotency_key)?;
        let ttl_ok =
            crate::core::float::is_whole(input.ttl_ms) && (1.0..=RESERVATION_TTL_MS_MAX as f64).contains(&input.ttl_ms);
        if !ttl_ok {
            return Err(LedgerError::invalid(
                "ttlMs",
                format!("must be whole milliseconds from 1 to {RESERVATION_TTL_MS_MAX}"),
            ));
        }
        let ttl_ms = input.ttl_ms as i64;
        let payload = format!("{}|{}|{}", input.currency_id, amount_micros, ttl_ms);
        let claim = Claim::new(&input.idempotency_key, OperationKind::Reserve, &payload);
        let outcome = self
            .write(&scope, Some(&claim), |tx| {
                let now_ms = tx.now_ms;
                let id = format!("rsv-{}", tx.ids.next_grant_id());
                let expires_at_ms = (now_ms + ttl_ms).min(TIME_MS_MAX);
                let reservation = Reservation { id: id.clone(), amount_micros, expires_at_ms, created_at_ms: now_ms };
                tx.head.pool_mut(&input.currency_id)?.reserve(reservation)?;
                let mut entry = key_entry(&claim, &input.currency_id, Some(id.clone()), now_ms);
                entry.expires_at_ms = Some(expires_at_ms);
                Ok(((id, expires_at_ms), Some(entry)))
            })
            .await?;
        let ((id, expires_at_ms), head, events, recharges) = match outcome {
            Outcome::Applied { value, head, events, recharges, .. } => (value, head, events, recharges),
            Outcome::Repeated { entry, head, .. } => (
                (entry.grant_id.unwrap_or_default(), entry.expires_at_ms.unwrap_or(entry.at_ms)),
                head,
                Vec::new(),
                Vec::new(),
            ),
        };
        let empty = Pool::new(&input.currency_id);
        let pool = head.pool(&input.currency_id).unwrap_or(&empty);
        let result = ReservationOutput {
            reservation_id: id,
            customer_id: scope.customer_id.clone(),
            resource_id: scope.resource_id.clone(),
            currency_id: input.currency_id.clone(),
            amount: micros_to_f64(amount_micros),
            expires_at: format_iso(expires_at_ms),
            available_balance: micros_to_f64(pool.available_micros()),
        };
        Ok(WriteResult { result, events, recharges })
    }

    /// Consumes what a reservation's holder actually used (at most what it
    /// reserved) through the burn order, and returns the rest. A reservation
    /// resolves once: settling or releasing it again, or after it expired, is
    /// `INVALID_STATE`.
    pub async fn settle_reservation(
        &self,
        input: SettleReservationInput,
    ) -> LedgerResult<WriteResult<ReservationResolution>> {
        check_id("reservationId", &input.reservation_id)?;
        let amount_micros = input.amount.non_negative_micros("amount")?;
        self.resolve_reservation(&input.reservation_id, Some(amount_micros)).await
    }

    /// Returns everything a reservation held; nothing is consumed.
    pub async fn release_reservation(
        &self,
        input: ReleaseReservationInput,
    ) -> LedgerResult<WriteResult<ReservationResolution>> {
        check_id("reservationId", &input.reservation_id)?;
        self.resolve_reservation(&input.reservation_id, None).await
    }

    async fn resolve_reservation(
        &self,
        reservation_id: &str,
        settle_micros: Option<i64>,
    ) -> LedgerResult<WriteResult<ReservationResolution>> {
        let scope = self.scope_of_reservation(reservation_id).await?;
        let outcome = self
            .write(&scope, None, |tx| {
                let now_ms = tx.now_ms;
                let pool = tx
                    .head
                    .pools
                    .iter_mut()
                    .find(|pool| pool.reservations.iter().any(|r| r.id == reservation_id))
                    .ok_or_else(|| {
                        Box::new(LedgerError::InvalidState {
                            what: format!(
                                "reservation \"{reservation_id}\" is no longer open (settled, released or expired)"
                            ),
                        })
                    })?;
                let held_micros =
                    pool.reservations.iter().find(|r| r.id == reservation_id).map_or(0, |r| r.amount_micros);
                let used_micros = settle_micros.unwrap_or(0);
                if used_micros > held_micros {
                    return Err(LedgerError::invalid(
                        "amount",
                        format!("settles more than the {} reserved", micros_text(held_micros)),
                    ));
                }
                pool.take_reservation(reservation_id);
                let first_event = tx.events.len();
                if used_micros > 0 {
                    pool.consume(used_micros, now_ms, &mut tx.ids, &mut tx.events)?;
                }
                for event in &mut tx.events[first_event..] {
                    event.event_id = Some(reservation_id.to_string());
                }
                Ok(((pool.currency_id.clone(), used_micros, held_micros - used_micros), None))
            })
            .await?;
        let Outcome::Applied { value: (currency_id, settled, released), head, now_ms, events, recharges } = outcome
        else {
            unreachable!("resolving a reservation carries no idempotency key")
        };
        let result = ReservationResolution {
            reservation_id: reservation_id.to_string(),
            customer_id: scope.customer_id.clone(),
            resource_id: scope.resource_id.clone(),
            credit: usage_output(&head, &currency_id, settled, now_ms),
            currency_id,
            settled_amount: micros_to_f64(settled),
            released_amount: micros_to_f64(released),
        };
        Ok(WriteResult { result, events, recharges })
    }

    /// Credits consumed in `[startDate, endDate)`, per group (feature and/or
    /// dimension values) and per UTC hour, day or month, computed from the
    /// ledger: what a breakdown chart needs. Reads only.
    pub async fn get_credit_usage(&self, input: GetCreditUsageInput) -> LedgerResult<CreditUsageReport> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        check_optional_id("currencyId", &input.currency_id)?;
        let start_ms = input.start_date.to_ms("startDate")?;
        let end_ms = input.end_date.to_ms("endDate")?;
        if end_ms <= start_ms {
            return Err(LedgerError::invalid("endDate", "must be later than startDate"));
        }
        let group_by = input.group_by.clone().unwrap_or_default();
        if group_by.len() > USAGE_GROUP_BY_MAX
            || group_by.iter().any(|key| key.is_empty() || key.len() > DIMENSION_KEY_BYTES_MAX)
        {
            return Err(LedgerError::invalid(
                "groupBy",
                format!("takes up to {USAGE_GROUP_BY_MAX} of \"featureId\" or dimension keys"),
            ));
        }
        let granularity = input.granularity.unwrap_or(Granularity::Day);
        let head = self.load_head(&scope).await?;
        let event_count = head.event_count;
        // Timestamps never decrease along the ledger: scan back from the end
        // until the range starts, a bounded number of pages.
        // Keyed by `series_key(group, currency)`, which sorts as the (group, currency) pair does.
        let mut series: SortedMap<(Vec<Option<String>>, String, SeriesBuilder)> = SortedMap::new();
        let mut complete = true;
        let mut page = page_of(event_count.saturating_sub(1)) + 1;
        let mut pages_read = 0;
        'pages: while page > 0 && event_count > 0 {
            page -= 1;
            if pages_read == USAGE_QUERY_PAGES_MAX {
                complete = false;
                break;
            }
            pages_read += 1;
            for event in self.load_page(&scope, &head, page).await?.iter().rev() {
                if event.timestamp_ms < start_ms {
                    break 'pages;
                }
                let in_range = event.timestamp_ms < end_ms && event.kind == EventKind::Consumed;
                if !in_range || input.currency_id.as_ref().is_some_and(|c| *c != event.currency_id) {
                    continue;
                }
                let group: Vec<Option<String>> = group_by.iter().map(|key| group_value(event, key)).collect();
                let key = series_key(&group, &event.currency_id);
                if !series.contains_key(&key) {
                    series.insert(key.clone(), (group, event.currency_id.clone(), SeriesBuilder::default()));
                }
                let (_, _, builder) = series.get_mut(&key).unwrap_or_else(|| unreachable!("inserted above"));
                builder.add(
                    bucket_start(event.timestamp_ms, granularity),
                    event.amount_micros,
                    event.event_id.as_deref(),
                );
            }
        }
        let series = series
            .into_values()
            .map(|(group, currency_id, builder)| builder.finish(&group_by, group, currency_id))
            .collect();
        Ok(CreditUsageReport {
            customer_id: scope.customer_id,
            resource_id: scope.resource_id,
            currency_id: input.currency_id,
            start_date: format_iso(start_ms),
            end_date: format_iso(end_ms),
            granularity,
            group_by,
            series,
            complete,
        })
    }

    /// Moves a subscription to another resource of the same customer: it, and
    /// its future recurring grants, belong to the destination from then on.
    /// Credits it already granted stay in the pool that received them.
    ///
    /// Three commits, ordered so that no crash can issue a period twice: the
    /// source freezes the subscription (it issues and prices nothing there),
    /// then the destination adopts it, then the index points at the
    /// destination, then the source forgets it. A retry resumes where a crash
    /// stopped. Usage in the destination scope is priced by the moved plan.
    pub async fn transfer_subscription_to_resource(
        &self,
        input: TransferSubscriptionInput,
    ) -> LedgerResult<WriteResult<TransferSubscriptionResult>> {
        check_id("subscriptionId", &input.subscription_id)?;
        check_id("destinationResourceId", &input.destination_resource_id)?;
        let index_key = subscription_index_key(&self.key_prefix, &input.subscription_id);
        let source = match self.get(&index_key).await? {
            Some(text) => ScopeIndexRecord::decode(&index_key, &text)?,
            None => return Err(LedgerError::not_found(format!("subscription \"{}\"", input.subscription_id))),
        };
        let destination = Scope::new(&source.customer_id, Some(&input.destination_resource_id))?;
        if source == destination {
            return Err(LedgerError::invalid("destinationResourceId", "is where the subscription already is"));
        }
        let id = input.subscription_id.clone();
        let moving_to = input.destination_resource_id.clone();
        // Refuse a destination with its own subscription before touching the source.
        let target = self.load_head(&destination).await?;
        if let Some(existing) = target.active_subscription().filter(|s| s.id != id) {
            return Err(Box::new(LedgerError::InvalidState {
                what: format!("{} already has subscription \"{}\"", destination.describe(), existing.id),
            }));
        }
        // 1. Freeze in the source (idempotent: a retry finds it frozen for the same destination).
        let frozen = self
            .write(&source, None, |tx| {
                let subscription =
                    tx.head.subscription.as_mut().filter(|s| s.id == id).ok_or_else(|| {
                        LedgerError::not_found(format!("subscription \"{id}\" in {}", source.describe()))
                    })?;
                match &subscription.transferred_to {
                    Some(target) if *target != moving_to => Err(Box::new(LedgerError::InvalidState {
                        what: format!("subscription \"{id}\" is already moving to resource \"{target}\""),
                    })),
                    _ => {
                        subscription.transferred_to = Some(moving_to.clone());
                        let moved = subscription.clone();
                        // Its grants stay here: index them here, since the
                        // subscription's index will name the destination.
                        tx.index_grants = tx
                            .head
                            .pools
                            .iter()
                            .flat_map(|pool| pool.grants.iter())
                            .filter(|grant| grant.subscription_id.as_deref() == Some(id.as_str()))
                            .map(|grant| grant.id.clone())
                            .collect();
                        Ok((moved, None))
                    }
                }
            })
            .await?;
        let Outcome::Applied { value: mut moved, mut events, recharges, .. } = frozen else {
            unreachable!("a transfer carries no idempotency key")
        };
        moved.transferred_to = None;
        // 2. Adopt in the destination.
        let adopted = match self
            .write(&destination, None, |tx| {
                match &tx.head.subscription {
                    // A retry: the destination already adopted it (and may have issued periods since).
                    Some(existing) if existing.id == moved.id && existing.transferred_to.is_none() => {}
                    Some(existing) if existing.transferred_to.is_none() => {
                        return Err(Box::new(LedgerError::InvalidState {
                            what: format!("{} already has subscription \"{}\"", destination.describe(), existing.id),
                        }))
                    }
                    _ => {
                        for credit in &moved.credits {
                            tx.head.pool_mut(&credit.currency_id)?;
                        }
                        tx.head.subscription = Some(moved.clone());
                        tx.index_new_subscription = false;
                    }
                }
                Ok(((), None))
            })
            .await
        {
            Ok(adopted) => adopted,
            Err(error) => {
                // The destination refused (it gained a subscription meanwhile, or
                // the store failed): thaw the source so nothing is left frozen.
                let _ = self
                    .write(&source, None, |tx| {
                        if let Some(subscription) = tx.head.subscription.as_mut().filter(|s| s.id == id) {
                            subscription.transferred_to = None;
                        }
                        Ok(((), None))
                    })
                    .await;
                return Err(error);
            }
        };
        let Outcome::Applied { head, now_ms, events: adopted_events, .. } = adopted else {
            unreachable!("a transfer carries no idempotency key")
        };
        events.extend(adopted_events);
        // 3. The index names the destination: the transfer is done.
        self.put(index_key, ScopeIndexRecord::new(&destination).encode()).await?;
        // 4. Tidy the source. A failure here leaves a frozen copy that issues nothing.
        let _ = self
            .write(&source, None, |tx| {
                if tx.head.subscription.as_ref().is_some_and(|s| s.id == id) {
                    tx.head.subscription = None;
                }
                Ok(((), None))
            })
            .await;
        let subscription =
            head.subscription.as_ref().unwrap_or_else(|| unreachable!("the destination adopted the subscription"));
        let result = TransferSubscriptionResult {
            subscription: SubscriptionOutput {
                id: subscription.id.clone(),
                customer_id: destination.customer_id.clone(),
                plan_id: subscription.plan_id.clone(),
                resource_id: destination.resource_id.clone(),
                status: subscription.status(now_ms),
                start_date: format_iso(subscription.start_ms),
            },
            source_resource_id: source.resource_id.clone(),
        };
        Ok(WriteResult { result, events, recharges })
    }

    /// The pool's balance and lifetime totals as of now.
    pub async fn get_credit_balance(&self, input: GetCreditBalanceInput) -> LedgerResult<CreditBalanceOutput> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        check_id("currencyId", &input.currency_id)?;
        self.catalog.currency(&input.currency_id)?;
        let (head, _, _) = self.read_head(&scope).await?;
        let empty = Pool::new(&input.currency_id);
        let pool = head.pool(&input.currency_id).unwrap_or(&empty);
        Ok(CreditBalanceOutput {
            customer_id: scope.customer_id,
            resource_id: scope.resource_id,
            currency_id: input.currency_id,
            current_balance: micros_to_f64(pool.balance_micros()),
            total_granted: micros_to_f64(pool.granted_micros),
            total_consumed: micros_to_f64(pool.consumed_micros),
            total_expired: micros_to_f64(pool.expired_micros),
            total_voided: micros_to_f64(pool.voided_micros),
            reserved_amount: micros_to_f64(pool.reserved_micros()),
            available_balance: micros_to_f64(pool.available_micros()),
        })
    }

    /// The scope's grants with their live status, newest first.
    pub async fn get_credit_grants(&self, input: GetCreditGrantsInput) -> LedgerResult<CreditGrantsPage> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        check_optional_id("currencyId", &input.currency_id)?;
        let limit = page_limit(input.limit)? as usize;
        let offset = match &input.cursor {
            None => 0,
            Some(cursor) => cursor
                .strip_prefix("g")
                .and_then(|n| usize::try_from(json::parse_unsigned(n)?).ok())
                .ok_or_else(|| LedgerError::invalid("cursor", "is not a cursor returned by getCreditGrants"))?,
        };
        let (head, _, _) = self.read_head(&scope).await?;
        let mut grants: Vec<GrantOutput> = head
            .pools
            .iter()
            .filter(|pool| input.currency_id.as_ref().is_none_or(|c| *c == pool.currency_id))
            .flat_map(|pool| pool.grants.iter().map(|grant| (pool.currency_id.as_str(), grant)))
            .map(|(currency_id, grant)| GrantOutput::new(&scope.customer_id, &scope.resource_id, currency_id, grant))
            .collect();
        super::order::sort_by(&mut grants, |a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        let next_cursor = (grants.len() > offset + limit).then(|| format!("g{}", offset + limit));
        let grants = grants.into_iter().skip(offset).take(limit).collect();
        Ok(CreditGrantsPage { grants, next_cursor })
    }

    /// The scope's ledger, filtered and paged. Includes the clock's pending
    /// transitions (an expiry due but not yet written), so what a read returns
    /// never depends on when the last write happened.
    pub async fn get_credit_ledger(&self, input: GetCreditLedgerInput) -> LedgerResult<CreditLedgerPage> {
        let scope = Scope::new(&input.customer_id, input.resource_id.as_deref())?;
        check_optional_id("currencyId", &input.currency_id)?;
        let limit = page_limit(input.limit)? as usize;
        let order = input.order.unwrap_or(SortOrder::Descending);
        let now_ms = self.now_ms()?;
        let stored = self.load_head(&scope).await?;
        let event_count = stored.event_count;
        let (_, pending) = self.advanced_copy(stored.clone(), now_ms)?;
        let total = event_count + pending.len() as u64;
        let matches = |event: &EventRecord| {
            input.currency_id.as_ref().is_none_or(|c| *c == event.currency_id)
                && input.event_type.as_ref().is_none_or(|kinds| kinds.contains(&event.kind))
        };
        // The cursor is the next sequence number to look at, in the query's order.
        let mut next = match &input.cursor {
            None => match order {
                SortOrder::Ascending => 0,
                SortOrder::Descending => total,
            },
            Some(cursor) => cursor
                .strip_prefix("e")
                .and_then(json::parse_unsigned)
                .filter(|n| *n <= total)
                .ok_or_else(|| LedgerError::invalid("cursor", "is not a cursor returned by getCreditLedger"))?,
        };
        let mut found = Vec::new();
        let mut pages_read = 0;
        // The one page being read (queries walk pages in order).
        let mut loaded: Option<(u64, Vec<EventRecord>)> = None;
        while found.len() < limit && pages_read <= LEDGER_QUERY_PAGES_MAX {
            let seq = match order {
                SortOrder::Ascending if next < total => next,
                SortOrder::Descending if next > 0 => next - 1,
                _ => break,
            };
            let event = if seq >= event_count {
                pending[(seq - event_count) as usize].clone()
            } else {
                let page = page_of(seq);
                if loaded.as_ref().is_none_or(|(at, _)| *at != page) {
                    if pages_read == LEDGER_QUERY_PAGES_MAX {
                        break;
                    }
                    pages_read += 1;
                    loaded = Some((page, self.load_page(&scope, &stored, page).await?));
                }
                let (_, events) = loaded.as_ref().unwrap_or_else(|| unreachable!("loaded above"));
                events[(seq % LEDGER_PAGE_EVENTS) as usize].clone()
            };
            if matches(&event) {
                found.push(LedgerEventOutput::new(seq, &scope.customer_id, &scope.resource_id, &event));
            }
            next = match order {
                SortOrder::Ascending => seq + 1,
                SortOrder::Descending => seq,
            };
        }
        let exhausted = match order {
            SortOrder::Ascending => next >= total,
            SortOrder::Descending => next == 0,
        };
        Ok(CreditLedgerPage { events: found, next_cursor: (!exhausted).then(|| format!("e{next}")) })
    }
}

/// The currency and credits `value_micros` units of `feature_id` cost on the
/// scope's subscription plan (rounded up to a micro).
fn price_usage(
    catalog: &Catalog,
    head: &ScopeHead,
    scope: &Scope,
    feature_id: &str,
    value_micros: i64,
    dimensions: &Option<SortedMap<DimensionValue>>,
) -> LedgerResult<(String, i64)> {
    let subscription = head.active_subscription().ok_or_else(|| {
        LedgerError::not_found(format!(
            "subscription for {} (usage is priced by the subscription's plan; consumeCredits needs none)",
            scope.describe()
        ))
    })?;
    let plan = catalog.plan(&subscription.plan_id)?;
    let rate = plan.credit_rates.get(feature_id).ok_or_else(|| {
        LedgerError::not_found(format!("credit rate for feature \"{feature_id}\" on plan \"{}\"", plan.id))
    })?;
    let cost_micros = match &rate.formula {
        Some(formula) => formula.cost_micros(value_micros, dimensions.as_ref().unwrap_or(&SortedMap::new()))?,
        None => multiply_micros_ceil(value_micros, rate.amount_micros)
            .ok_or_else(|| LedgerError::invalid("value", "value × credit rate overflows"))?,
    };
    Ok((rate.currency_id.clone(), cost_micros))
}

/// Micros as the decimal a caller sees (for messages).
fn micros_text(micros: i64) -> String {
    let mut text = String::new();
    super::json::write_micros(&mut text, micros);
    text
}

fn pool_grant_copy(head: &ScopeHead, currency_id: &str, grant_id: &str) -> Option<Grant> {
    head.pool(currency_id).and_then(|pool| pool.grant(grant_id)).cloned()
}

/// A ledger row's value for a `groupBy` key.
fn group_value(event: &EventRecord, key: &str) -> Option<String> {
    if key == "featureId" {
        return event.feature_id.clone();
    }
    event.dimensions.as_ref().and_then(|d| d.get(key).cloned())
}

/// The UTC hour, day or month containing `ms`.
fn bucket_start(ms: UnixMs, granularity: Granularity) -> UnixMs {
    match granularity {
        Granularity::Hour => ms - ms.rem_euclid(3_600_000),
        Granularity::Day => ms - ms.rem_euclid(86_400_000),
        Granularity::Month => month_start(ms),
    }
}

/// A text key that sorts as `(group, currency)` does: each value is `\u{1}value\u{0}`
/// (`\u{0}` alone for a missing one, which sorts first).
fn series_key(group: &[Option<String>], currency_id: &str) -> String {
    let mut key = String::new();
    for value in group.iter().map(Option::as_deref).chain([Some(currency_id)]) {
        if let Some(value) = value {
            key.push('\u{1}');
            key.push_str(value);
        }
        key.push('\u{0}');
    }
    key
}

/// A bucket's start as a key that sorts as the instant does (instants are ≥ 0).
fn bucket_key(bucket_ms: UnixMs) -> String {
    format!("{bucket_ms:015}")
}

/// Accumulates one series: credits and distinct usage events per bucket.
#[derive(Debug, Default)]
struct SeriesBuilder {
    /// By `bucket_key`: the bucket's start, its credits, its distinct usage events.
    buckets: SortedMap<(UnixMs, i64, SortedMap<()>)>,
    events: SortedMap<()>,
    total_micros: i64,
}

impl SeriesBuilder {
    fn add(&mut self, bucket_ms: UnixMs, amount_micros: i64, event_id: Option<&str>) {
        let key = bucket_key(bucket_ms);
        if !self.buckets.contains_key(&key) {
            self.buckets.insert(key.clone(), (bucket_ms, 0, SortedMap::new()));
        }
        let (_, micros, ids) = self.buckets.get_mut(&key).unwrap_or_else(|| unreachable!("inserted above"));
        *micros += amount_micros;
        self.total_micros += amount_micros;
        // One usage spanning several grants writes several rows: count it once.
        if let Some(id) = event_id {
            ids.insert(id.to_string(), ());
            self.events.insert(id.to_string(), ());
        }
    }

    fn finish(self, keys: &[String], group: Vec<Option<String>>, currency_id: String) -> UsageSeries {
        UsageSeries {
            group: keys.iter().cloned().zip(group).collect(),
            currency_id,
            total_credits: micros_to_f64(self.total_micros),
            event_count: self.events.len() as u64,
            points: self
                .buckets
                .into_values()
                .map(|(bucket_ms, micros, ids)| UsagePoint {
                    timestamp: format_iso(bucket_ms),
                    value: micros_to_f64(micros),
                    event_count: ids.len() as u64,
                })
                .collect(),
        }
    }
}

/// Currencies whose pool this operation debited (its consumed total grew).
fn debited_currencies(before: &ScopeHead, after: &ScopeHead) -> Vec<String> {
    after
        .pools
        .iter()
        .filter(|pool| pool.consumed_micros > before.pool(&pool.currency_id).map_or(0, |old| old.consumed_micros))
        .map(|pool| pool.currency_id.clone())
        .collect()
}

/// Drops the account's pending recharges of this scope that never committed:
/// an operation reserved their spend, then its head did not land. A pending
/// recharge names the head version that commits it; once the scope's
/// committed head has reached that version without holding the grant, the
/// commit is known not to have happened (a pending grant leaves a pool only
/// through `finish_recharge`, which removes it from the account first).
/// Until then it may still be in flight on another instance, and stays —
/// unless the store has no compare-and-set: then this instance, holding the
/// scope's lock, is its only writer, and nothing else can be in flight.
/// Returns whether any was dropped.
fn release_phantom_recharges(
    account: &mut AccountState,
    scope: &Scope,
    committed_version: u64,
    single_writer: bool,
    pool: Option<&Pool>,
) -> bool {
    let before = account.pending.len();
    let mut released_micros = 0;
    let month = account.spend_month;
    account.pending.retain(|pending| {
        let ours = pending.resource_id == scope.resource_id;
        let decided = single_writer || committed_version >= pending.commit_version;
        let held = pool.is_some_and(|pool| pool.grant(&pending.recharge_id).is_some());
        if ours && decided && !held {
            if pending.month == month {
                released_micros += pending.amount_micros;
            }
            return false;
        }
        true
    });
    account.spend_micros = (account.spend_micros - released_micros).max(0);
    account.pending.len() != before
}

/// An event sink for an account record's own events (configuration changes).
fn account_sink(account: &AccountState, key: &str) -> EventSink {
    let scope = Scope { customer_id: account.customer_id.clone(), resource_id: None };
    EventSink::new(&scope, key, account.version)
}

/// After a debit: if the pool is now below the configuration's threshold, no
/// recharge of it awaits payment, and the month's spend allows it, adds a
/// `PAYMENT_PENDING` grant topping the pool up to the target and counts its spend.
fn plan_recharge(
    tx: &mut Transaction,
    scope: &Scope,
    currency_id: &str,
    account: &mut AccountState,
    events: &mut Vec<(String, EventBody)>,
) -> LedgerResult<Option<RechargeRequest>> {
    let Some(config) = account.config.clone() else { return Ok(None) };
    let now_ms = tx.now_ms;
    let pool = tx.head.pool_mut(currency_id)?;
    if pool.pending_recharge().is_some() || account.pending.len() >= PENDING_RECHARGES_MAX {
        return Ok(None);
    }
    let month = month_of(now_ms);
    let spend_micros = account.spend_in(month);
    let Some((wanted_micros, allowed_micros)) = recharge_amount(&config, pool.balance_micros(), spend_micros) else {
        return Ok(None);
    };
    if allowed_micros < wanted_micros {
        let body = EventBody::RechargeLimitExceeded {
            configuration_id: config.id.clone(),
            requested_amount: micros_to_f64(wanted_micros),
            allowed_amount: micros_to_f64(allowed_micros),
            max_spend_limit: micros_to_f64(config.max_spend_limit_micros.unwrap_or(0)),
            current_monthly_spend: micros_to_f64(spend_micros),
        };
        events.push((currency_id.to_string(), body));
    }
    if allowed_micros == 0 {
        return Ok(None);
    }
    let recharge_id = tx.ids.next_grant_id();
    let grant = Grant {
        id: recharge_id.clone(),
        seq: tx.ids.next_seq(),
        grant_type: GrantType::Paid,
        status: GrantStatus::PaymentPending,
        amount_micros: allowed_micros,
        consumed_micros: 0,
        priority: 0,
        effective_at_ms: now_ms,
        expire_at_ms: None,
        created_at_ms: now_ms,
        voided_at_ms: None,
        display_name: Some("Automatic recharge".to_string()),
        comment: None,
        metadata: None,
        subscription_id: None,
        recharge_config_id: Some(config.id.clone()),
    };
    tx.head.pool_mut(currency_id)?.add_grant(grant)?;
    account.add_spend(month, allowed_micros);
    account.pending.push(PendingRecharge {
        recharge_id: recharge_id.clone(),
        resource_id: scope.resource_id.clone(),
        amount_micros: allowed_micros,
        month,
        commit_version: tx.head.version + 1,
    });
    let body = EventBody::RechargeAttempted {
        recharge_id: recharge_id.clone(),
        configuration_id: config.id.clone(),
        grant_id: recharge_id.clone(),
        amount: micros_to_f64(allowed_micros),
        status: "PENDING",
        reason: None,
    };
    events.push((currency_id.to_string(), body));
    Ok(Some(RechargeRequest {
        recharge_id,
        customer_id: scope.customer_id.clone(),
        resource_id: scope.resource_id.clone(),
        currency_id: currency_id.to_string(),
        amount: micros_to_f64(allowed_micros),
        automatic_recharge_configuration_id: config.id,
    }))
}

fn key_entry(claim: &Claim, currency_id: &str, grant_id: Option<String>, now_ms: UnixMs) -> KeyEntry {
    KeyEntry {
        key: claim.key.clone(),
        kind: claim.kind,
        fingerprint: claim.fingerprint.clone(),
        currency_id: currency_id.to_string(),
        grant_id,
        at_ms: now_ms,
        expires_at_ms: None,
    }
}

fn usage_output(head: &ScopeHead, currency_id: &str, consumed_micros: i64, now_ms: UnixMs) -> CreditUsageOutput {
    let empty = Pool::new(currency_id);
    let pool = head.pool(currency_id).unwrap_or(&empty);
    CreditUsageOutput {
        currency_id: currency_id.to_string(),
        consumed: micros_to_f64(consumed_micros),
        current_usage: micros_to_f64(pool.consumed_micros),
        usage_limit: micros_to_f64(pool.granted_micros),
        current_balance: micros_to_f64(pool.balance_micros()),
        timestamp: format_iso(now_ms),
    }
}

/// Voids what is left of the current subscription's recurring grants (a plan
/// change does not roll credits over) and forgets the subscription.
fn void_subscription_grants(head: &mut ScopeHead, now_ms: UnixMs, events: &mut Vec<EventRecord>) {
    let Some(old) = head.subscription.take() else { return };
    if old.transferred_to.is_some() {
        // Moved to another resource: its credits here stay where they were granted.
        return;
    }
    for pool in &mut head.pools {
        let open: Vec<String> = pool
            .grants
            .iter()
            .filter(|g| g.subscription_id.as_deref() == Some(old.id.as_str()))
            .filter(|g| matches!(g.status, GrantStatus::Active | GrantStatus::Scheduled))
            .map(|g| g.id.clone())
            .collect();
        for grant_id in open {
            let voided = pool.void(&grant_id, now_ms, events).is_ok();
            assert!(voided, "active and scheduled recurring grants can be voided");
        }
    }
}

/// A validated `grantCredits` input.
struct GrantCommand {
    currency_id: String,
    amount_micros: i64,
    grant_type: GrantType,
    priority: u32,
    effective_at_ms: Option<UnixMs>,
    expire_at_ms: Option<UnixMs>,
    display_name: Option<String>,
    comment: Option<String>,
    metadata: Option<SortedMap<String>>,
}

impl GrantCommand {
    fn validate(input: &GrantCreditsInput, catalog: &Catalog) -> LedgerResult<Self> {
        check_id("currencyId", &input.currency_id)?;
        catalog.currency(&input.currency_id)?;
        check_optional_id("idempotencyKey", &input.idempotency_key)?;
        let priority = match input.priority {
            None => 0,
            Some(p) if crate::core::float::is_whole(p) && (0.0..=f64::from(PRIORITY_MAX)).contains(&p) => p as u32,
            Some(p) => {
                return Err(LedgerError::invalid(
                    "priority",
                    format!("must be a whole number from 0 to {PRIORITY_MAX}, got {}", describe_number(p)),
                ))
            }
        };
        for (field, text) in [("displayName", &input.display_name), ("comment", &input.comment)] {
            if let Some(text) = text {
                check_text(field, text)?;
            }
        }
        if let Some(metadata) = &input.metadata {
            if metadata.len() > METADATA_ENTRIES_MAX {
                return Err(LedgerError::limit("metadata entries", METADATA_ENTRIES_MAX));
            }
            for (key, value) in metadata {
                check_text("metadata", key)?;
                check_text("metadata", value)?;
            }
        }
        let effective_at_ms = input.effective_at.as_ref().map(|d| d.to_ms("effectiveAt")).transpose()?;
        let expire_at_ms = input.expire_at.as_ref().map(|d| d.to_ms("expireAt")).transpose()?;
        if let (Some(effective), Some(expire)) = (effective_at_ms, expire_at_ms) {
            if expire <= effective {
                return Err(LedgerError::invalid("expireAt", "must be later than effectiveAt"));
            }
        }
        Ok(Self {
            currency_id: input.currency_id.clone(),
            amount_micros: input.amount.positive_micros("amount")?,
            grant_type: match input.grant_type {
                None | Some(GrantTypeInput::Paid) => GrantType::Paid,
                Some(GrantTypeInput::Promotional) => GrantType::Promotional,
            },
            priority,
            effective_at_ms,
            expire_at_ms,
            display_name: input.display_name.clone(),
            comment: input.comment.clone(),
            metadata: input.metadata.clone(),
        })
    }

    /// What identifies the grant for idempotency: everything but free text.
    fn payload(&self) -> String {
        let instant = |ms: Option<UnixMs>| ms.map_or_else(|| "None".to_string(), |ms| format!("Some({ms})"));
        format!(
            "{}|{}|{}|{}|{}|{}",
            self.currency_id,
            self.amount_micros,
            self.grant_type.name(),
            self.priority,
            instant(self.effective_at_ms),
            instant(self.expire_at_ms)
        )
    }
}
