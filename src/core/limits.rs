//! Named bounds on everything the core stores or loops over.
//!
//! Every collection that grows with user input has a maximum here, and exceeding
//! it is a coded error (`LIMIT_EXCEEDED` or `INVALID_ARGUMENT`), never a slowdown
//! or a crash. Relationships between limits are asserted at compile time.

/// Fixed-point scale: amounts are stored as integer millionths of a credit.
pub const MICROS_PER_CREDIT: i64 = 1_000_000;

/// Largest single amount (a grant, a usage value, a rate): one billion credits.
/// Kept far below 2^53 micros so every amount is an exact JS number.
pub const AMOUNT_MICROS_MAX: i64 = 1_000_000_000 * MICROS_PER_CREDIT;

/// Largest running total (granted, consumed, ...) a pool may reach. Totals are
/// reported to JS as numbers, which are exact integers of micros up to 2^53.
pub const TOTAL_MICROS_MAX: i64 = (1 << 53) - 1;

/// Byte length of any id: customer, resource, currency, plan, feature,
/// grant, subscription and idempotency key.
pub const ID_BYTES_MAX: usize = 128;

/// Byte length of the host-chosen key prefix.
pub const KEY_PREFIX_BYTES_MAX: usize = 64;

/// Workers KV refuses keys longer than this; every key we build fits.
pub const KEY_BYTES_MAX: usize = 512;

/// Free-text fields (`displayName`, `comment`).
pub const TEXT_BYTES_MAX: usize = 256;

/// Entries in a grant's `metadata` map, and the byte length of each key and value.
pub const METADATA_ENTRIES_MAX: usize = 16;

/// Currencies per scope (one pool each) and in the catalog.
pub const CURRENCIES_MAX: usize = 64;

/// Plans in the catalog.
pub const PLANS_MAX: usize = 1_024;

/// Recurring credit entries or credit rates on one plan.
pub const PLAN_ENTRIES_MAX: usize = 256;

/// Grants a pool holds that can still pay (active with a remainder, or scheduled).
pub const GRANTS_LIVE_PER_POOL_MAX: usize = 256;

/// Finished grants (depleted, expired, voided) a pool keeps for `getCreditGrants`;
/// older ones are dropped from the head (their history stays in the ledger).
pub const GRANTS_FINISHED_PER_POOL_MAX: usize = 64;

/// Open reservations per pool.
pub const RESERVATIONS_PER_POOL_MAX: usize = 256;

/// Longest a reservation may be held: seven days.
pub const RESERVATION_TTL_MS_MAX: i64 = 7 * 24 * 3_600_000;

/// Ledger events per stored page. The newest events live in the scope head's
/// tail; a page is written once, when the tail holds enough committed events
/// to fill it, so its size also bounds the tail a head carries between flushes.
pub const LEDGER_PAGE_EVENTS: u64 = 32;

/// Recurring periods one clock advance may issue, across all plan credit
/// entries (ten years of monthly grants); older missed periods are skipped.
pub const RECURRING_PERIODS_PER_ADVANCE_MAX: usize = 120;

/// Ledger events one operation may append. Sized so that no clock advance can
/// exceed it (which would wedge the scope): every live grant may activate,
/// settle an overdraft (two events) and expire; every issued period may add a
/// grant, its expiry, a settlement and a void; a debit touches every live grant
/// and the overdraft.
pub const EVENTS_PER_OPERATION_MAX: usize = 2_048;
const _: () = assert!(
    4 * GRANTS_LIVE_PER_POOL_MAX + 5 * RECURRING_PERIODS_PER_ADVANCE_MAX + GRANTS_LIVE_PER_POOL_MAX + 1 + 16
        <= EVENTS_PER_OPERATION_MAX
);

/// Committed events a scope head may carry in its tail: a page's worth less
/// one, plus what one operation can append before the next flushes them.
pub const LEDGER_TAIL_EVENTS_MAX: usize = LEDGER_PAGE_EVENTS as usize - 1 + EVENTS_PER_OPERATION_MAX;

/// Attempts of one write operation against a compare-and-set store before it
/// gives up with `CONFLICT` (each attempt re-reads what another writer committed).
pub const COMMIT_ATTEMPTS_MAX: u32 = 8;

/// Entries in one `put_many` call (Durable Object storage takes at most 128).
/// Larger write sets send their order-independent part in several batches first.
pub const BATCH_ENTRIES_MAX: usize = 128;

/// Scope heads, and accounts, one instance keeps in memory (see `CacheMode`);
/// a full cache starts over. About 1,000 × a few KB: a few MB at most.
pub const RECORDS_CACHED_MAX: usize = 1_024;

/// Ledger events or grants returned by one query page.
pub const PAGE_LIMIT_MAX: u32 = 1_000;
pub const PAGE_LIMIT_DEFAULT: u32 = 100;

/// Largest `priority` a grant may carry (0 is burned first).
pub const PRIORITY_MAX: u32 = 1_000_000;

/// Latest instant accepted anywhere: 9999-12-31T23:59:59.999Z.
pub const TIME_MS_MAX: i64 = 253_402_300_799_999;

// A pool's totals cannot overflow i64 while each stays under TOTAL_MICROS_MAX.
const _: () = assert!(TOTAL_MICROS_MAX < i64::MAX / 4);
const _: () = assert!(AMOUNT_MICROS_MAX < TOTAL_MICROS_MAX);
// One operation's events fit in a bounded number of pages.
const _: () = assert!(LEDGER_TAIL_EVENTS_MAX as u64 / LEDGER_PAGE_EVENTS <= 96);
const _: () = assert!(BATCH_ENTRIES_MAX >= 4);
