//! The public API's input and result shapes, with Stigg's field names.
//!
//! Inputs are deserialised leniently (unknown fields are ignored, so code
//! ported from Stigg's SDK keeps working) and then validated field by field;
//! every rejection names the field. Results serialise to plain JSON objects:
//! amounts as numbers, instants as ISO-8601 strings, absent values as `null`.

use super::sorted_map::SortedMap;
use crate::prelude::*;

use super::amount::{micros_to_f64, AmountInput};
use super::decode::{self, At, Decoded, Fields, FromJson};
use super::error::{LedgerError, LedgerResult};
use super::formula::DimensionValue;
use super::json::{Json, ObjectWriter, ToJson};
use super::keys::check_id;
use super::ledger_event::{EventKind, EventRecord};
use super::limits::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
use super::pool::{Grant, GrantStatus, GrantType};
use super::time::{format_iso, TimeInput};

#[derive(Debug)]
pub struct ProvisionSubscriptionInput {
    pub customer_id: String,
    pub plan_id: String,
    pub resource_id: Option<String>,
    pub start_date: Option<TimeInput>,
}

/// Grant types a caller may create; `RECURRING` and `OVERDRAFT` are system-made.
#[derive(Debug, Clone, Copy)]
pub enum GrantTypeInput {
    Paid,
    Promotional,
}

#[derive(Debug)]
pub struct GrantCreditsInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    /// `creditTypeId` is the seed page's spelling of the same field.
    pub currency_id: String,
    pub amount: AmountInput,
    pub display_name: Option<String>,
    pub grant_type: Option<GrantTypeInput>,
    pub priority: Option<f64>,
    pub effective_at: Option<TimeInput>,
    pub expire_at: Option<TimeInput>,
    pub comment: Option<String>,
    pub metadata: Option<SortedMap<String>>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug)]
pub struct ReportUsageInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub feature_id: String,
    pub value: AmountInput,
    pub idempotency_key: Option<String>,
    pub created_at: Option<TimeInput>,
    /// Debit only if the available balance (after reservations) covers it;
    /// otherwise reject with `INSUFFICIENT_CREDITS` and change nothing.
    pub require_balance: Option<bool>,
    /// Attributes of the usage (model, region, …): inputs of a plan's
    /// `costFormula`, and keys `getCreditUsage` can group by.
    pub dimensions: Option<SortedMap<DimensionValue>>,
}

#[derive(Debug)]
pub struct ConsumeCreditsInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    pub amount: AmountInput,
    pub idempotency_key: String,
    pub created_at: Option<TimeInput>,
    pub require_balance: Option<bool>,
}

#[derive(Debug)]
pub struct GetCreditBalanceInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

#[derive(Debug)]
pub struct GetCreditLedgerInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: Option<String>,
    pub event_type: Option<Vec<EventKind>>,
    pub limit: Option<f64>,
    pub cursor: Option<String>,
    pub order: Option<SortOrder>,
}

#[derive(Debug)]
pub struct GetCreditGrantsInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: Option<String>,
    pub limit: Option<f64>,
    pub cursor: Option<String>,
}

/// Dimensions per usage, and the byte length of a key and of a text value.
pub const DIMENSIONS_MAX: usize = 16;
pub const DIMENSION_KEY_BYTES_MAX: usize = 64;
pub const DIMENSION_TEXT_BYTES_MAX: usize = 128;

/// Checks a usage's dimensions: at most `DIMENSIONS_MAX`, keys that a formula
/// can name (`[A-Za-z_][A-Za-z0-9_]*`), finite numbers, bounded text.
pub fn check_dimensions(dimensions: &Option<SortedMap<DimensionValue>>) -> LedgerResult<()> {
    let Some(dimensions) = dimensions else { return Ok(()) };
    if dimensions.len() > DIMENSIONS_MAX {
        return Err(LedgerError::invalid("dimensions", format!("has more than {DIMENSIONS_MAX} entries")));
    }
    for (key, value) in dimensions {
        let name_ok = key.len() <= DIMENSION_KEY_BYTES_MAX
            && key.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            return Err(LedgerError::invalid(
                "dimensions",
                format!("key \"{key}\" must match [A-Za-z_][A-Za-z0-9_]* (at most {DIMENSION_KEY_BYTES_MAX} bytes)"),
            ));
        }
        let value_ok = match value {
            DimensionValue::Number(_) => value.is_finite_number(),
            DimensionValue::Text(text) => text.len() <= DIMENSION_TEXT_BYTES_MAX,
            DimensionValue::Flag(_) => true,
        };
        if !value_ok {
            return Err(LedgerError::invalid(
                &format!("dimensions.{key}"),
                format!("must be a finite number, a boolean or text of at most {DIMENSION_TEXT_BYTES_MAX} bytes"),
            ));
        }
    }
    Ok(())
}

/// The dimensions as stored on ledger rows: canonical text values.
pub fn canonical_dimensions(dimensions: &Option<SortedMap<DimensionValue>>) -> Option<SortedMap<String>> {
    let dimensions = dimensions.as_ref().filter(|d| !d.is_empty())?;
    Some(dimensions.iter().map(|(k, v)| (k.clone(), v.canonical())).collect())
}

/// Validates an optional id field.
pub fn check_optional_id(field: &str, value: &Option<String>) -> LedgerResult<()> {
    match value {
        Some(id) => check_id(field, id),
        None => Ok(()),
    }
}

/// A page size: a whole number in `1..=PAGE_LIMIT_MAX`, default `PAGE_LIMIT_DEFAULT`.
pub fn page_limit(limit: Option<f64>) -> LedgerResult<u32> {
    match limit {
        None => Ok(PAGE_LIMIT_DEFAULT),
        Some(value) if crate::core::float::is_whole(value) && (1.0..=f64::from(PAGE_LIMIT_MAX)).contains(&value) => {
            Ok(value as u32)
        }
        Some(value) => Err(LedgerError::invalid(
            "limit",
            format!("must be a whole number from 1 to {PAGE_LIMIT_MAX}, got {}", super::amount::describe_number(value)),
        )),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionOutput {
    pub id: String,
    pub customer_id: String,
    pub plan_id: String,
    pub resource_id: Option<String>,
    pub status: &'static str,
    pub start_date: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProvisionSubscriptionResult {
    pub id: String,
    pub status: &'static str,
    pub subscription: SubscriptionOutput,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GrantOutput {
    pub id: String,
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    pub amount: f64,
    pub consumed_amount: f64,
    pub grant_type: GrantType,
    pub status: GrantStatus,
    pub priority: u32,
    pub effective_at: String,
    pub expire_at: Option<String>,
    pub created_at: String,
    pub voided_at: Option<String>,
    pub display_name: Option<String>,
    pub comment: Option<String>,
    pub metadata: Option<SortedMap<String>>,
    pub subscription_id: Option<String>,
    pub automatic_recharge_configuration_id: Option<String>,
}

impl GrantOutput {
    pub fn new(customer_id: &str, resource_id: &Option<String>, currency_id: &str, grant: &Grant) -> Self {
        Self {
            id: grant.id.clone(),
            customer_id: customer_id.to_string(),
            resource_id: resource_id.clone(),
            currency_id: currency_id.to_string(),
            amount: micros_to_f64(grant.amount_micros),
            consumed_amount: micros_to_f64(grant.consumed_micros),
            grant_type: grant.grant_type,
            status: grant.status,
            priority: grant.priority,
            effective_at: format_iso(grant.effective_at_ms),
            expire_at: grant.expire_at_ms.map(format_iso),
            created_at: format_iso(grant.created_at_ms),
            voided_at: grant.voided_at_ms.map(format_iso),
            display_name: grant.display_name.clone(),
            comment: grant.comment.clone(),
            metadata: grant.metadata.clone(),
            subscription_id: grant.subscription_id.clone(),
            automatic_recharge_configuration_id: grant.recharge_config_id.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreditUsageOutput {
    pub currency_id: String,
    /// Credits this call took from the pool (0 for an idempotent repeat).
    pub consumed: f64,
    /// Lifetime credits consumed from the pool (Stigg's `currentUsage`).
    pub current_usage: f64,
    /// Lifetime credits granted to the pool (Stigg's `usageLimit`).
    pub usage_limit: f64,
    pub current_balance: f64,
    pub timestamp: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportUsageResult {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub feature_id: String,
    pub credit: CreditUsageOutput,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConsumeCreditsResult {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    /// What this call consumed (0 for an idempotent repeat).
    pub amount: f64,
    pub timestamp: String,
    pub credit: CreditUsageOutput,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreditBalanceOutput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    pub current_balance: f64,
    pub total_granted: f64,
    pub total_consumed: f64,
    pub total_expired: f64,
    pub total_voided: f64,
    /// Credit held by open reservations.
    pub reserved_amount: f64,
    /// `currentBalance − reservedAmount`: what a `requireBalance` debit may take.
    pub available_balance: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEventOutput {
    pub seq: u64,
    pub event_type: EventKind,
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    pub amount: f64,
    pub credit_grant_id: String,
    pub feature_id: Option<String>,
    pub event_id: Option<String>,
    pub timestamp: String,
}

impl LedgerEventOutput {
    pub fn new(seq: u64, customer_id: &str, resource_id: &Option<String>, event: &EventRecord) -> Self {
        Self {
            seq,
            event_type: event.kind,
            customer_id: customer_id.to_string(),
            resource_id: resource_id.clone(),
            currency_id: event.currency_id.clone(),
            amount: micros_to_f64(event.amount_micros),
            credit_grant_id: event.grant_id.clone(),
            feature_id: event.feature_id.clone(),
            event_id: event.event_id.clone(),
            timestamp: format_iso(event.timestamp_ms),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreditLedgerPage {
    pub events: Vec<LedgerEventOutput>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreditGrantsPage {
    pub grants: Vec<GrantOutput>,
    pub next_cursor: Option<String>,
}

#[derive(Debug)]
pub struct VoidCreditGrantInput {
    pub id: String,
}

#[derive(Debug)]
pub struct GetCreditEntitlementInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    /// Credits the caller is about to use; access needs the balance to cover them.
    pub requested_usage: Option<AmountInput>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreditEntitlementOutput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    pub has_access: bool,
    /// `"InsufficientCredits"` when access is denied, else `null`.
    pub access_denied_reason: Option<&'static str>,
    pub requested_usage: f64,
    /// Lifetime credits granted to the pool (Stigg's `usageLimit`).
    pub usage_limit: f64,
    /// Lifetime credits consumed from the pool (Stigg's `currentUsage`).
    pub current_usage: f64,
    pub current_balance: f64,
    /// Credit held by open reservations; access is judged on the balance less this.
    pub reserved_amount: f64,
    pub has_soft_limit: bool,
    /// End of the subscription's current credit period for this currency, if any.
    pub usage_period_end: Option<String>,
}

#[derive(Debug)]
pub struct EstimateUsageCostInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub feature_id: String,
    pub value: AmountInput,
    pub dimensions: Option<SortedMap<DimensionValue>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CostEstimate {
    pub currency_id: String,
    pub estimated_cost: f64,
    pub current_balance: f64,
    pub balance_after_estimate: f64,
    /// True when the cost exceeds the balance less open reservations.
    pub would_overdraft: bool,
    pub reserved_amount: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UsageCostEstimation {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub feature_id: String,
    pub estimates: Vec<CostEstimate>,
}

#[derive(Debug)]
pub struct ReserveCreditsInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    pub amount: AmountInput,
    /// How long the credit is held before it returns by itself.
    pub ttl_ms: f64,
    pub idempotency_key: String,
}

#[derive(Debug)]
pub struct SettleReservationInput {
    pub reservation_id: String,
    /// What was actually used: at most the reserved amount; the rest returns.
    pub amount: AmountInput,
}

#[derive(Debug)]
pub struct ReleaseReservationInput {
    pub reservation_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReservationOutput {
    pub reservation_id: String,
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    pub amount: f64,
    pub expires_at: String,
    /// The pool's balance less every open reservation, this one included.
    pub available_balance: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReservationResolution {
    pub reservation_id: String,
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    /// Credits consumed (through the burn order, with ledger events).
    pub settled_amount: f64,
    /// Credits returned to the pool's available balance.
    pub released_amount: f64,
    pub credit: CreditUsageOutput,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Hour,
    Day,
    Month,
}

#[derive(Debug)]
pub struct GetCreditUsageInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: Option<String>,
    pub start_date: TimeInput,
    pub end_date: TimeInput,
    /// Up to 3 of `"featureId"` or dimension keys.
    pub group_by: Option<Vec<String>>,
    pub granularity: Option<Granularity>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UsagePoint {
    /// Start of the bucket (UTC hour, day or month).
    pub timestamp: String,
    pub value: f64,
    pub event_count: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UsageSeries {
    /// The group's value for each `groupBy` key (`null` where a usage lacked it).
    pub group: SortedMap<Option<String>>,
    pub currency_id: String,
    pub total_credits: f64,
    pub event_count: u64,
    pub points: Vec<UsagePoint>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreditUsageReport {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: Option<String>,
    pub start_date: String,
    pub end_date: String,
    pub granularity: Granularity,
    pub group_by: Vec<String>,
    pub series: Vec<UsageSeries>,
    /// False when the range held more history than one query reads
    /// (`USAGE_QUERY_PAGES_MAX` pages); narrow the range to see the rest.
    pub complete: bool,
}

#[derive(Debug)]
pub struct TransferSubscriptionInput {
    pub subscription_id: String,
    pub destination_resource_id: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransferSubscriptionResult {
    pub subscription: SubscriptionOutput,
    /// The resource the subscription left (`null`: the customer's global pool).
    pub source_resource_id: Option<String>,
}

// ----- Reading inputs --------------------------------------------------------

fn amount(value: &Json<'_>, path: &At<'_>) -> Decoded<AmountInput> {
    AmountInput::from_json(value, path)
}

fn time(value: &Json<'_>, path: &At<'_>) -> Decoded<TimeInput> {
    TimeInput::from_json(value, path)
}

fn dimensions(value: &Json<'_>, path: &At<'_>) -> Decoded<SortedMap<DimensionValue>> {
    let Json::Object(entries) = value else { return Err(decode::wrong(path, "an object", value)) };
    entries
        .iter()
        .map(|(key, item)| Ok((key.to_string(), DimensionValue::from_json(item, &decode::At::Key(path, key))?)))
        .collect()
}

impl FromJson for ProvisionSubscriptionInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            customer_id: f.string("customerId"),
            plan_id: f.string("planId"),
            resource_id: f.opt_string("resourceId"),
            start_date: f.opt("startDate", time),
        })
    }
}

impl FromJson for GrantCreditsInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        let grant_types = [("PAID", GrantTypeInput::Paid), ("PROMOTIONAL", GrantTypeInput::Promotional)];
        f.finish(Self {
            customer_id: f.string("customerId"),
            resource_id: f.opt_string("resourceId"),
            currency_id: f.string_either("currencyId", "creditTypeId"),
            amount: f.req("amount", amount),
            display_name: f.opt_string("displayName"),
            grant_type: f.opt("grantType", |v, p| decode::choice(v, p, &grant_types)),
            priority: f.opt_number("priority"),
            effective_at: f.opt("effectiveAt", time),
            expire_at: f.opt("expireAt", time),
            comment: f.opt_string("comment"),
            metadata: f.opt("metadata", decode::string_map),
            idempotency_key: f.opt_string("idempotencyKey"),
        })
    }
}

impl FromJson for ReportUsageInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            customer_id: f.string("customerId"),
            resource_id: f.opt_string("resourceId"),
            feature_id: f.string("featureId"),
            value: f.req("value", amount),
            idempotency_key: f.opt_string("idempotencyKey"),
            created_at: f.opt("createdAt", time),
            require_balance: f.opt_bool("requireBalance"),
            dimensions: f.opt("dimensions", dimensions),
        })
    }
}

impl FromJson for ConsumeCreditsInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            customer_id: f.string("customerId"),
            resource_id: f.opt_string("resourceId"),
            currency_id: f.string_either("currencyId", "creditTypeId"),
            amount: f.req("amount", amount),
            idempotency_key: f.string("idempotencyKey"),
            created_at: f.opt("createdAt", time),
            require_balance: f.opt_bool("requireBalance"),
        })
    }
}

impl FromJson for GetCreditBalanceInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            customer_id: f.string("customerId"),
            resource_id: f.opt_string("resourceId"),
            currency_id: f.string_either("currencyId", "creditTypeId"),
        })
    }
}

impl FromJson for GetCreditLedgerInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        let orders = [("ASC", SortOrder::Ascending), ("DESC", SortOrder::Descending)];
        f.finish(Self {
            customer_id: f.string("customerId"),
            resource_id: f.opt_string("resourceId"),
            currency_id: f.opt_string_either("currencyId", "creditTypeId"),
            event_type: f
                .opt("eventType", |v, p| decode::list(v, p, |item, at| decode::choice(item, at, &EventKind::NAMED))),
            limit: f.opt_number("limit"),
            cursor: f.opt_string("cursor"),
            order: f.opt("order", |v, p| decode::choice(v, p, &orders)),
        })
    }
}

impl FromJson for GetCreditGrantsInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            customer_id: f.string("customerId"),
            resource_id: f.opt_string("resourceId"),
            currency_id: f.opt_string_either("currencyId", "creditTypeId"),
            limit: f.opt_number("limit"),
            cursor: f.opt_string("cursor"),
        })
    }
}

impl FromJson for VoidCreditGrantInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        let id = f.string("id");
        f.finish(Self { id })
    }
}

impl FromJson for GetCreditEntitlementInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            customer_id: f.string("customerId"),
            resource_id: f.opt_string("resourceId"),
            currency_id: f.string_either("currencyId", "creditTypeId"),
            requested_usage: f.opt("requestedUsage", amount),
        })
    }
}

impl FromJson for EstimateUsageCostInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            customer_id: f.string("customerId"),
            resource_id: f.opt_string("resourceId"),
            feature_id: f.string("featureId"),
            value: f.req("value", amount),
            dimensions: f.opt("dimensions", dimensions),
        })
    }
}

impl FromJson for ReserveCreditsInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            customer_id: f.string("customerId"),
            resource_id: f.opt_string("resourceId"),
            currency_id: f.string_either("currencyId", "creditTypeId"),
            amount: f.req("amount", amount),
            ttl_ms: f.req("ttlMs", decode::number),
            idempotency_key: f.string("idempotencyKey"),
        })
    }
}

impl FromJson for SettleReservationInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self { reservation_id: f.string("reservationId"), amount: f.req("amount", amount) })
    }
}

impl FromJson for ReleaseReservationInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        let reservation_id = f.string("reservationId");
        f.finish(Self { reservation_id })
    }
}

impl Granularity {
    const NAMED: [(&'static str, Granularity); 3] =
        [("HOUR", Granularity::Hour), ("DAY", Granularity::Day), ("MONTH", Granularity::Month)];

    pub fn name(self) -> &'static str {
        match self {
            Granularity::Hour => "HOUR",
            Granularity::Day => "DAY",
            Granularity::Month => "MONTH",
        }
    }
}

impl FromJson for GetCreditUsageInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            customer_id: f.string("customerId"),
            resource_id: f.opt_string("resourceId"),
            currency_id: f.opt_string_either("currencyId", "creditTypeId"),
            start_date: f.req("startDate", time),
            end_date: f.req("endDate", time),
            group_by: f.opt("groupBy", |v, p| decode::list(v, p, decode::string)),
            granularity: f.opt("granularity", |v, p| decode::choice(v, p, &Granularity::NAMED)),
        })
    }
}

impl FromJson for TransferSubscriptionInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            subscription_id: f.string("subscriptionId"),
            destination_resource_id: f.string("destinationResourceId"),
        })
    }
}

// ----- Writing results --------------------------------------------------------

fn write_scope(o: &mut ObjectWriter<'_>, customer_id: &str, resource_id: &Option<String>) {
    o.str("customerId", customer_id).opt_str("resourceId", resource_id.as_deref());
}

impl ToJson for SubscriptionOutput {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("id", &self.id).str("customerId", &self.customer_id).str("planId", &self.plan_id);
        o.opt_str("resourceId", self.resource_id.as_deref()).str("status", self.status);
        o.str("startDate", &self.start_date);
        o.finish();
    }
}

impl ToJson for ProvisionSubscriptionResult {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("id", &self.id).str("status", self.status);
        self.subscription.write_json(o.key("subscription"));
        o.finish();
    }
}

impl ToJson for GrantOutput {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("id", &self.id);
        write_scope(&mut o, &self.customer_id, &self.resource_id);
        o.str("currencyId", &self.currency_id).amount("amount", self.amount);
        o.amount("consumedAmount", self.consumed_amount).str("grantType", self.grant_type.name());
        o.str("status", self.status.name()).int("priority", i64::from(self.priority));
        o.str("effectiveAt", &self.effective_at).opt_str("expireAt", self.expire_at.as_deref());
        o.str("createdAt", &self.created_at).opt_str("voidedAt", self.voided_at.as_deref());
        o.opt_str("displayName", self.display_name.as_deref()).opt_str("comment", self.comment.as_deref());
        match &self.metadata {
            Some(metadata) => write_string_map(o.key("metadata"), metadata),
            None => {
                o.raw("metadata", "null");
            }
        }
        o.opt_str("subscriptionId", self.subscription_id.as_deref());
        o.opt_str("automaticRechargeConfigurationId", self.automatic_recharge_configuration_id.as_deref());
        o.finish();
    }
}

/// `{"key":"value",…}` in key order.
pub fn write_string_map(out: &mut String, map: &SortedMap<String>) {
    let mut o = ObjectWriter::new(out);
    for (key, value) in map {
        super::json::write_str(o.user_key(key), value);
    }
    o.finish();
}

impl ToJson for CreditUsageOutput {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("currencyId", &self.currency_id).amount("consumed", self.consumed);
        o.amount("currentUsage", self.current_usage).amount("usageLimit", self.usage_limit);
        o.amount("currentBalance", self.current_balance).str("timestamp", &self.timestamp);
        o.finish();
    }
}

impl ToJson for ReportUsageResult {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        write_scope(&mut o, &self.customer_id, &self.resource_id);
        o.str("featureId", &self.feature_id);
        self.credit.write_json(o.key("credit"));
        o.finish();
    }
}

impl ToJson for ConsumeCreditsResult {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        write_scope(&mut o, &self.customer_id, &self.resource_id);
        o.str("currencyId", &self.currency_id).amount("amount", self.amount).str("timestamp", &self.timestamp);
        self.credit.write_json(o.key("credit"));
        o.finish();
    }
}

impl ToJson for CreditBalanceOutput {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        write_scope(&mut o, &self.customer_id, &self.resource_id);
        o.str("currencyId", &self.currency_id).amount("currentBalance", self.current_balance);
        o.amount("totalGranted", self.total_granted).amount("totalConsumed", self.total_consumed);
        o.amount("totalExpired", self.total_expired).amount("totalVoided", self.total_voided);
        o.amount("reservedAmount", self.reserved_amount).amount("availableBalance", self.available_balance);
        o.finish();
    }
}

impl ToJson for LedgerEventOutput {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.int("seq", self.seq as i64).str("eventType", self.event_type.name());
        write_scope(&mut o, &self.customer_id, &self.resource_id);
        o.str("currencyId", &self.currency_id).amount("amount", self.amount);
        o.str("creditGrantId", &self.credit_grant_id).opt_str("featureId", self.feature_id.as_deref());
        o.opt_str("eventId", self.event_id.as_deref()).str("timestamp", &self.timestamp);
        o.finish();
    }
}

/// `{ "<name>": [items], "nextCursor": cursor | null }`: every paged result.
fn write_page<T: ToJson>(out: &mut String, name: &'static str, items: &[T], next_cursor: Option<&str>) {
    let mut o = ObjectWriter::new(out);
    o.list(name, items, |item, out| item.write_json(out));
    o.opt_str("nextCursor", next_cursor);
    o.finish();
}

impl ToJson for CreditLedgerPage {
    fn write_json(&self, out: &mut String) {
        write_page(out, "events", &self.events, self.next_cursor.as_deref());
    }
}

impl ToJson for CreditGrantsPage {
    fn write_json(&self, out: &mut String) {
        write_page(out, "grants", &self.grants, self.next_cursor.as_deref());
    }
}

impl ToJson for CreditEntitlementOutput {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        write_scope(&mut o, &self.customer_id, &self.resource_id);
        o.str("currencyId", &self.currency_id).bool("hasAccess", self.has_access);
        o.opt_str("accessDeniedReason", self.access_denied_reason).amount("requestedUsage", self.requested_usage);
        o.amount("usageLimit", self.usage_limit).amount("currentUsage", self.current_usage);
        o.amount("currentBalance", self.current_balance).amount("reservedAmount", self.reserved_amount);
        o.bool("hasSoftLimit", self.has_soft_limit).opt_str("usagePeriodEnd", self.usage_period_end.as_deref());
        o.finish();
    }
}

impl ToJson for CostEstimate {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("currencyId", &self.currency_id).amount("estimatedCost", self.estimated_cost);
        o.amount("currentBalance", self.current_balance).amount("balanceAfterEstimate", self.balance_after_estimate);
        o.bool("wouldOverdraft", self.would_overdraft).amount("reservedAmount", self.reserved_amount);
        o.finish();
    }
}

impl ToJson for UsageCostEstimation {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        write_scope(&mut o, &self.customer_id, &self.resource_id);
        o.str("featureId", &self.feature_id);
        o.list("estimates", &self.estimates, |estimate, out| estimate.write_json(out));
        o.finish();
    }
}

impl ToJson for ReservationOutput {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("reservationId", &self.reservation_id);
        write_scope(&mut o, &self.customer_id, &self.resource_id);
        o.str("currencyId", &self.currency_id).amount("amount", self.amount).str("expiresAt", &self.expires_at);
        o.amount("availableBalance", self.available_balance);
        o.finish();
    }
}

impl ToJson for ReservationResolution {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("reservationId", &self.reservation_id);
        write_scope(&mut o, &self.customer_id, &self.resource_id);
        o.str("currencyId", &self.currency_id).amount("settledAmount", self.settled_amount);
        o.amount("releasedAmount", self.released_amount);
        self.credit.write_json(o.key("credit"));
        o.finish();
    }
}

impl ToJson for UsagePoint {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("timestamp", &self.timestamp).amount("value", self.value).int("eventCount", self.event_count as i64);
        o.finish();
    }
}

impl ToJson for UsageSeries {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        let group = o.key("group");
        let mut g = ObjectWriter::new(group);
        for (key, value) in &self.group {
            let out = g.user_key(key);
            match value {
                Some(value) => super::json::write_str(out, value),
                None => out.push_str("null"),
            }
        }
        g.finish();
        o.str("currencyId", &self.currency_id).amount("totalCredits", self.total_credits);
        o.int("eventCount", self.event_count as i64);
        o.list("points", &self.points, |point, out| point.write_json(out));
        o.finish();
    }
}

impl ToJson for CreditUsageReport {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        write_scope(&mut o, &self.customer_id, &self.resource_id);
        o.opt_str("currencyId", self.currency_id.as_deref()).str("startDate", &self.start_date);
        o.str("endDate", &self.end_date).str("granularity", self.granularity.name());
        o.list("groupBy", &self.group_by, |key, out| crate::core::json::write_str(out, key));
        o.list("series", &self.series, |series, out| series.write_json(out));
        o.bool("complete", self.complete);
        o.finish();
    }
}

impl ToJson for TransferSubscriptionResult {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        self.subscription.write_json(o.key("subscription"));
        o.opt_str("sourceResourceId", self.source_resource_id.as_deref());
        o.finish();
    }
}
