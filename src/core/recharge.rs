//! Automatic recharge: one configuration per `(customer, currency)` covering
//! every pool of that customer in that currency, and the account record that
//! holds it with the month's spend.
//!
//! Payment model (a): when a debit leaves a pool below the threshold, the same
//! commit adds a `PAYMENT_PENDING` grant (it pays nothing yet) and the host is
//! asked to charge for it. Confirming the payment activates the grant;
//! a failed payment voids it and disables the configuration, as Stigg does.
//! Because the pending grant is part of the pool's state, a retried or a
//! concurrent debit sees it and never starts a second recharge.

use super::amount::AmountInput;
use super::decode::{self, At, Decoded, Fields, FromJson};
use super::error::{LedgerError, LedgerResult};
use super::json::{self, Json, ObjectWriter, ToJson};
use super::json::{parse_int, sub};
use super::keys::check_id;
use super::limits::TIME_MS_MAX;
use super::time::{add_months, UnixMs};
use crate::prelude::*;

/// Recharges of one account awaiting payment at once.
pub const PENDING_RECHARGES_MAX: usize = 64;

/// 2: hand-written JSON, pending recharges tagged with the head version that commits them.
pub const ACCOUNT_SCHEMA: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrantExpirationPeriod {
    #[default]
    OneMonth,
    OneYear,
}

impl GrantExpirationPeriod {
    pub const NAMED: [(&'static str, GrantExpirationPeriod); 2] =
        [("1_MONTH", GrantExpirationPeriod::OneMonth), ("1_YEAR", GrantExpirationPeriod::OneYear)];

    pub fn name(self) -> &'static str {
        Self::NAMED[self as usize].0
    }

    pub fn expire_at(self, from: UnixMs) -> UnixMs {
        add_months(from, if self == Self::OneMonth { 1 } else { 12 }).min(TIME_MS_MAX)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThresholdType {
    CreditAmount,
}

#[derive(Debug)]
pub struct SaveRechargeConfigInput {
    pub customer_id: String,
    pub currency_id: String,
    pub is_enabled: bool,
    pub threshold_type: Option<ThresholdType>,
    pub threshold_value: AmountInput,
    pub target_balance: AmountInput,
    pub max_spend_limit: Option<AmountInput>,
    pub grant_expiration_period: Option<GrantExpirationPeriod>,
}

#[derive(Debug)]
pub struct GetRechargeConfigInput {
    pub customer_id: String,
    pub currency_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RechargeConfig {
    pub id: String,
    pub is_enabled: bool,
    pub threshold_micros: i64,
    pub target_micros: i64,
    pub max_spend_limit_micros: Option<i64>,
    pub grant_expiration: GrantExpirationPeriod,
    pub updated_at_ms: UnixMs,
}

/// A recharge whose grant exists as `PAYMENT_PENDING` in `resource_id`'s pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRecharge {
    pub recharge_id: String,
    pub resource_id: Option<String>,
    pub amount_micros: i64,
    /// The calendar month (`year * 12 + month - 1`) whose spend it counts in.
    pub month: i64,
    /// The version of the scope head whose commit holds the grant.
    pub commit_version: u64,
}

/// `{prefix}/a/{customer}{currency}`: the configuration and this month's spend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub schema: u32,
    pub customer_id: String,
    pub currency_id: String,
    pub config: Option<RechargeConfig>,
    /// Month index of `spend_micros` (`year * 12 + month - 1`, UTC).
    pub spend_month: i64,
    /// Recharges started this month, confirmed or pending (failed ones are released).
    pub spend_micros: i64,
    pub pending: Vec<PendingRecharge>,
    /// Writes so far; numbers the account's event message ids.
    pub version: u64,
}

/// The UTC calendar month of `ms` as `year * 12 + month - 1`.
pub fn month_of(ms: UnixMs) -> i64 {
    let text = super::time::format_iso(ms);
    let year = parse_int(sub(&text, 0, 4)).unwrap_or(0) as i64;
    let month = parse_int(sub(&text, 5, 7)).unwrap_or(1) as i64;
    year * 12 + month - 1
}

impl AccountState {
    pub fn empty(customer_id: &str, currency_id: &str) -> Self {
        Self {
            schema: ACCOUNT_SCHEMA,
            customer_id: customer_id.to_string(),
            currency_id: currency_id.to_string(),
            config: None,
            spend_month: 0,
            spend_micros: 0,
            pending: Vec::new(),
            version: 0,
        }
    }

    pub fn decode(key: &str, customer_id: &str, currency_id: &str, text: &str) -> LedgerResult<Self> {
        let value = json::parse(text).map_err(|reason| LedgerError::corrupt(key, reason))?;
        let account = Self::read(&value).map_err(|error| error.corrupt(key))?;
        if account.schema != ACCOUNT_SCHEMA {
            return Err(LedgerError::corrupt(
                key,
                format!("account schema {} is not {ACCOUNT_SCHEMA}", account.schema),
            ));
        }
        if account.customer_id != customer_id || account.currency_id != currency_id {
            return Err(LedgerError::corrupt(key, "the account belongs to another customer or currency"));
        }
        let amounts_ok = account.spend_micros >= 0 && account.pending.iter().all(|p| p.amount_micros > 0);
        if !amounts_ok || account.pending.len() > PENDING_RECHARGES_MAX {
            return Err(LedgerError::corrupt(key, "spend or pending recharges out of range"));
        }
        if let Some(config) = &account.config {
            if config.threshold_micros < 0 || config.threshold_micros >= config.target_micros {
                return Err(LedgerError::corrupt(key, "configuration threshold is not below its target"));
            }
        }
        Ok(account)
    }

    /// `{"v","c":customer,"y":currency,"cf"?:config,"m":spend_month,"sp":spend,"pd"?:[pending],"n":version}`,
    /// config `{"i","en","th","tg","mx"?,"ge","u"}`, pending `{"i","r"?,"a","m","cv"}`.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(256);
        let mut o = ObjectWriter::new(&mut out);
        o.int("v", i64::from(self.schema)).str("c", &self.customer_id).str("y", &self.currency_id);
        if let Some(config) = &self.config {
            let mut c = ObjectWriter::new(o.key("cf"));
            c.str("i", &config.id).bool("en", config.is_enabled).int("th", config.threshold_micros);
            c.int("tg", config.target_micros).some_int("mx", config.max_spend_limit_micros);
            c.str("ge", config.grant_expiration.name()).int("u", config.updated_at_ms);
            c.finish();
        }
        o.int("m", self.spend_month).int("sp", self.spend_micros);
        if !self.pending.is_empty() {
            o.list("pd", &self.pending, |p, out| {
                let mut w = ObjectWriter::new(out);
                w.str("i", &p.recharge_id).some_str("r", p.resource_id.as_deref()).int("a", p.amount_micros);
                w.int("m", p.month).int("cv", p.commit_version as i64);
                w.finish();
            });
        }
        o.int("n", self.version as i64);
        o.finish();
        out
    }

    fn read(value: &Json<'_>) -> Decoded<Self> {
        let f = Fields::of(value, &At::Root("account"));
        let config = f.opt("cf", |value, path| {
            let c = Fields::of(value, path);
            c.finish(RechargeConfig {
                id: c.string("i"),
                is_enabled: c.req("en", decode::boolean),
                threshold_micros: c.integer("th"),
                target_micros: c.integer("tg"),
                max_spend_limit_micros: c.opt_integer("mx"),
                grant_expiration: c.req("ge", |v, p| decode::choice(v, p, &GrantExpirationPeriod::NAMED)),
                updated_at_ms: c.integer("u"),
            })
        });
        let pending = f.list_or_empty("pd", |value, path| {
            let p = Fields::of(value, path);
            p.finish(PendingRecharge {
                recharge_id: p.string("i"),
                resource_id: p.opt_string("r"),
                amount_micros: p.integer("a"),
                month: p.integer("m"),
                commit_version: p.unsigned("cv"),
            })
        });
        f.finish(Self {
            schema: f.unsigned("v") as u32,
            customer_id: f.string("c"),
            currency_id: f.string("y"),
            config,
            spend_month: f.integer("m"),
            spend_micros: f.integer("sp"),
            pending,
            version: f.unsigned("n"),
        })
    }

    /// This month's spend as of `now` (a new month starts from zero).
    pub fn spend_in(&self, month: i64) -> i64 {
        if self.spend_month == month {
            self.spend_micros
        } else {
            0
        }
    }

    /// Records a recharge of `amount_micros` started in `month`.
    pub fn add_spend(&mut self, month: i64, amount_micros: i64) {
        if self.spend_month != month {
            self.spend_month = month;
            self.spend_micros = 0;
        }
        self.spend_micros += amount_micros;
    }
}

/// Validates a `saveAutomaticRechargeConfiguration` input into a configuration.
pub fn validate_config(input: &SaveRechargeConfigInput, id: String, now_ms: UnixMs) -> LedgerResult<RechargeConfig> {
    check_id("customerId", &input.customer_id)?;
    check_id("currencyId", &input.currency_id)?;
    let threshold_micros = input.threshold_value.non_negative_micros("thresholdValue")?;
    let target_micros = input.target_balance.positive_micros("targetBalance")?;
    if threshold_micros >= target_micros {
        return Err(LedgerError::invalid(
            "thresholdValue",
            "must be below targetBalance (a recharge to the target would cross the threshold again and loop)",
        ));
    }
    let max_spend_limit_micros =
        input.max_spend_limit.as_ref().map(|m| m.non_negative_micros("maxSpendLimit")).transpose()?;
    Ok(RechargeConfig {
        id,
        is_enabled: input.is_enabled,
        threshold_micros,
        target_micros,
        max_spend_limit_micros,
        grant_expiration: input.grant_expiration_period.unwrap_or(GrantExpirationPeriod::OneMonth),
        updated_at_ms: now_ms,
    })
}

/// How much to recharge a pool at `balance_micros` under `config`, given this
/// month's spend: `(wanted, allowed)`. `allowed < wanted` means the spend cap cut it.
pub fn recharge_amount(config: &RechargeConfig, balance_micros: i64, spend_micros: i64) -> Option<(i64, i64)> {
    if !config.is_enabled || balance_micros >= config.threshold_micros {
        return None;
    }
    let wanted = config.target_micros - balance_micros;
    assert!(wanted > 0);
    let allowed = match config.max_spend_limit_micros {
        Some(limit) => wanted.min((limit - spend_micros).max(0)),
        None => wanted,
    };
    Some((wanted, allowed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::time::parse_iso;

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_of(parse_iso("2026-01-31T23:59:59Z").unwrap()), 2026 * 12);
        assert_eq!(month_of(parse_iso("2026-02-01T00:00:00Z").unwrap()), 2026 * 12 + 1);
    }

    #[test]
    fn recharge_tops_up_to_the_target_within_the_cap() {
        let config = RechargeConfig {
            id: "arc".into(),
            is_enabled: true,
            threshold_micros: 20_000_000,
            target_micros: 50_000_000,
            max_spend_limit_micros: Some(60_000_000),
            grant_expiration: GrantExpirationPeriod::OneMonth,
            updated_at_ms: 0,
        };
        assert_eq!(recharge_amount(&config, 20_000_000, 0), None, "at the threshold is not below it");
        assert_eq!(recharge_amount(&config, 19_000_000, 0), Some((31_000_000, 31_000_000)));
        assert_eq!(recharge_amount(&config, -10_000_000, 40_000_000), Some((60_000_000, 20_000_000)));
        assert_eq!(recharge_amount(&config, 0, 60_000_000), Some((50_000_000, 0)));
        assert_eq!(recharge_amount(&RechargeConfig { is_enabled: false, ..config }, 0, 0), None);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RechargeConfigOutput {
    /// `null` until a configuration is saved.
    pub id: Option<String>,
    pub customer_id: String,
    pub currency_id: String,
    pub is_enabled: bool,
    pub threshold_type: ThresholdType,
    pub threshold_value: f64,
    pub target_balance: f64,
    pub max_spend_limit: Option<f64>,
    pub grant_expiration_period: GrantExpirationPeriod,
    /// Spend of the current UTC calendar month across all pools, pending recharges included.
    pub current_monthly_spend: f64,
}

impl RechargeConfigOutput {
    pub fn new(account: &AccountState, month: i64) -> Self {
        let to_f64 = super::amount::micros_to_f64;
        let config = account.config.as_ref();
        Self {
            id: config.map(|c| c.id.clone()),
            customer_id: account.customer_id.clone(),
            currency_id: account.currency_id.clone(),
            is_enabled: config.is_some_and(|c| c.is_enabled),
            threshold_type: ThresholdType::CreditAmount,
            threshold_value: config.map_or(0.0, |c| to_f64(c.threshold_micros)),
            target_balance: config.map_or(0.0, |c| to_f64(c.target_micros)),
            max_spend_limit: config.and_then(|c| c.max_spend_limit_micros).map(to_f64),
            grant_expiration_period: config.map_or(GrantExpirationPeriod::OneMonth, |c| c.grant_expiration),
            current_monthly_spend: to_f64(account.spend_in(month)),
        }
    }
}

#[derive(Debug)]
pub struct RechargeOutcomeInput {
    pub recharge_id: String,
    /// Why the payment failed (for `failRecharge`), carried into the event.
    pub reason: Option<String>,
}

impl FromJson for SaveRechargeConfigInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        let threshold_types = [("CREDIT_AMOUNT", ThresholdType::CreditAmount)];
        f.finish(Self {
            customer_id: f.string("customerId"),
            currency_id: f.string_either("currencyId", "creditTypeId"),
            is_enabled: f.req("isEnabled", decode::boolean),
            threshold_type: f.opt("thresholdType", |v, p| decode::choice(v, p, &threshold_types)),
            threshold_value: f.req("thresholdValue", AmountInput::from_json),
            target_balance: f.req("targetBalance", AmountInput::from_json),
            max_spend_limit: f.opt("maxSpendLimit", AmountInput::from_json),
            grant_expiration_period: f
                .opt("grantExpirationPeriod", |v, p| decode::choice(v, p, &GrantExpirationPeriod::NAMED)),
        })
    }
}

impl FromJson for GetRechargeConfigInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            customer_id: f.string("customerId"),
            currency_id: f.string_either("currencyId", "creditTypeId"),
        })
    }
}

impl FromJson for RechargeOutcomeInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self { recharge_id: f.string("rechargeId"), reason: f.opt_string("reason") })
    }
}

impl ToJson for RechargeConfigOutput {
    fn write_json(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.opt_str("id", self.id.as_deref()).str("customerId", &self.customer_id).str("currencyId", &self.currency_id);
        o.bool("isEnabled", self.is_enabled).str("thresholdType", "CREDIT_AMOUNT");
        o.amount("thresholdValue", self.threshold_value).amount("targetBalance", self.target_balance);
        match self.max_spend_limit {
            Some(limit) => o.amount("maxSpendLimit", limit),
            None => o.raw("maxSpendLimit", "null"),
        };
        o.str("grantExpirationPeriod", self.grant_expiration_period.name());
        o.amount("currentMonthlySpend", self.current_monthly_spend);
        o.finish();
    }
}
