//! The public API's input and result shapes, with Stigg's field names.
//!
//! Inputs are deserialised leniently (unknown fields are ignored, so code
//! ported from Stigg's SDK keeps working) and then validated field by field;
//! every rejection names the field. Results serialise to plain JSON objects:
//! amounts as numbers, instants as ISO-8601 strings, absent values as `null`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::amount::{micros_to_f64, AmountInput};
use super::error::{LedgerError, LedgerResult};
use super::formula::DimensionValue;
use super::keys::check_id;
use super::ledger_event::{EventKind, EventRecord};
use super::limits::{PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX};
use super::pool::{Grant, GrantStatus, GrantType};
use super::time::{format_iso, TimeInput};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionSubscriptionInput {
    pub customer_id: String,
    pub plan_id: String,
    pub resource_id: Option<String>,
    pub start_date: Option<TimeInput>,
}

/// Grant types a caller may create; `RECURRING` and `OVERDRAFT` are system-made.
#[derive(Debug, Clone, Copy, Deserialize)]
pub enum GrantTypeInput {
    #[serde(rename = "PAID")]
    Paid,
    #[serde(rename = "PROMOTIONAL")]
    Promotional,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantCreditsInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    /// `creditTypeId` is the seed page's spelling of the same field.
    #[serde(alias = "creditTypeId")]
    pub currency_id: String,
    pub amount: AmountInput,
    pub display_name: Option<String>,
    pub grant_type: Option<GrantTypeInput>,
    pub priority: Option<f64>,
    pub effective_at: Option<TimeInput>,
    pub expire_at: Option<TimeInput>,
    pub comment: Option<String>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
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
    pub dimensions: Option<BTreeMap<String, DimensionValue>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeCreditsInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    #[serde(alias = "creditTypeId")]
    pub currency_id: String,
    pub amount: AmountInput,
    pub idempotency_key: String,
    pub created_at: Option<TimeInput>,
    pub require_balance: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCreditBalanceInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    #[serde(alias = "creditTypeId")]
    pub currency_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SortOrder {
    #[serde(rename = "ASC")]
    Ascending,
    #[serde(rename = "DESC")]
    Descending,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCreditLedgerInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    #[serde(alias = "creditTypeId")]
    pub currency_id: Option<String>,
    pub event_type: Option<Vec<EventKind>>,
    pub limit: Option<f64>,
    pub cursor: Option<String>,
    pub order: Option<SortOrder>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCreditGrantsInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    #[serde(alias = "creditTypeId")]
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
pub fn check_dimensions(dimensions: &Option<BTreeMap<String, DimensionValue>>) -> LedgerResult<()> {
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
                format!("key {key:?} must match [A-Za-z_][A-Za-z0-9_]* (at most {DIMENSION_KEY_BYTES_MAX} bytes)"),
            ));
        }
        let value_ok = match value {
            DimensionValue::Number(number) => number.is_finite(),
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
pub fn canonical_dimensions(dimensions: &Option<BTreeMap<String, DimensionValue>>) -> Option<BTreeMap<String, String>> {
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
        Some(value) if value.fract() == 0.0 && (1.0..=f64::from(PAGE_LIMIT_MAX)).contains(&value) => Ok(value as u32),
        Some(value) => Err(LedgerError::invalid(
            "limit",
            format!("must be a whole number from 1 to {PAGE_LIMIT_MAX}, got {value}"),
        )),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionOutput {
    pub id: String,
    pub customer_id: String,
    pub plan_id: String,
    pub resource_id: Option<String>,
    pub status: &'static str,
    pub start_date: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionSubscriptionResult {
    pub id: String,
    pub status: &'static str,
    pub subscription: SubscriptionOutput,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
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
    pub metadata: Option<BTreeMap<String, String>>,
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportUsageResult {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub feature_id: String,
    pub credit: CreditUsageOutput,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumeCreditsResult {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub currency_id: String,
    /// What this call consumed (0 for an idempotent repeat).
    pub amount: f64,
    pub timestamp: String,
    pub credit: CreditUsageOutput,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditLedgerPage {
    pub events: Vec<LedgerEventOutput>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditGrantsPage {
    pub grants: Vec<GrantOutput>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoidCreditGrantInput {
    pub id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCreditEntitlementInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    #[serde(alias = "creditTypeId")]
    pub currency_id: String,
    /// Credits the caller is about to use; access needs the balance to cover them.
    pub requested_usage: Option<AmountInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EstimateUsageCostInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub feature_id: String,
    pub value: AmountInput,
    pub dimensions: Option<BTreeMap<String, DimensionValue>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostEstimate {
    pub currency_id: String,
    pub estimated_cost: f64,
    pub current_balance: f64,
    pub balance_after_estimate: f64,
    /// True when the cost exceeds the balance less open reservations.
    pub would_overdraft: bool,
    pub reserved_amount: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageCostEstimation {
    pub customer_id: String,
    pub resource_id: Option<String>,
    pub feature_id: String,
    pub estimates: Vec<CostEstimate>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveCreditsInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    #[serde(alias = "creditTypeId")]
    pub currency_id: String,
    pub amount: AmountInput,
    /// How long the credit is held before it returns by itself.
    pub ttl_ms: f64,
    pub idempotency_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleReservationInput {
    pub reservation_id: String,
    /// What was actually used: at most the reserved amount; the rest returns.
    pub amount: AmountInput,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseReservationInput {
    pub reservation_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum Granularity {
    #[serde(rename = "HOUR")]
    Hour,
    #[serde(rename = "DAY")]
    Day,
    #[serde(rename = "MONTH")]
    Month,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetCreditUsageInput {
    pub customer_id: String,
    pub resource_id: Option<String>,
    #[serde(alias = "creditTypeId")]
    pub currency_id: Option<String>,
    pub start_date: TimeInput,
    pub end_date: TimeInput,
    /// Up to 3 of `"featureId"` or dimension keys.
    pub group_by: Option<Vec<String>>,
    pub granularity: Option<Granularity>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePoint {
    /// Start of the bucket (UTC hour, day or month).
    pub timestamp: String,
    pub value: f64,
    pub event_count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageSeries {
    /// The group's value for each `groupBy` key (`null` where a usage lacked it).
    pub group: BTreeMap<String, Option<String>>,
    pub currency_id: String,
    pub total_credits: f64,
    pub event_count: u64,
    pub points: Vec<UsagePoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferSubscriptionInput {
    pub subscription_id: String,
    pub destination_resource_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferSubscriptionResult {
    pub subscription: SubscriptionOutput,
    /// The resource the subscription left (`null`: the customer's global pool).
    pub source_resource_id: Option<String>,
}
