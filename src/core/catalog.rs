//! The product catalog the host passes at construction: currencies, and plans
//! with their recurring credits and per-feature credit rates.

use super::sorted_map::SortedMap;
use crate::prelude::*;

use super::amount::AmountInput;
use super::decode::{self, At, Decoded, Fields, FromJson};
use super::error::{LedgerError, LedgerResult};
use super::formula::Formula;
use super::json::{Json, ObjectWriter};
use super::keys::check_id;
use super::limits::{CURRENCIES_MAX, PLANS_MAX, PLAN_ENTRIES_MAX, TEXT_BYTES_MAX};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cadence {
    #[default]
    Month,
    Year,
}

impl Cadence {
    pub const NAMED: [(&'static str, Cadence); 2] = [("MONTH", Cadence::Month), ("YEAR", Cadence::Year)];

    pub fn months(self) -> i64 {
        match self {
            Cadence::Month => 1,
            Cadence::Year => 12,
        }
    }
}

#[derive(Debug)]
pub struct CatalogInput {
    pub currencies: Vec<CurrencyInput>,
    pub plans: Vec<PlanInput>,
}

#[derive(Debug)]
pub struct CurrencyInput {
    pub id: String,
    pub display_name: Option<String>,
}

#[derive(Debug)]
pub struct PlanInput {
    pub id: String,
    pub credits: Option<Vec<PlanCreditInput>>,
    pub credit_rates: Option<Vec<CreditRateInput>>,
}

#[derive(Debug)]
pub struct PlanCreditInput {
    pub currency_id: String,
    pub amount: AmountInput,
    pub cadence: Cadence,
    pub has_soft_limit: Option<bool>,
}

#[derive(Debug)]
pub struct CreditRateInput {
    pub feature_id: String,
    pub currency_id: String,
    /// Credits per unit; optional when `costFormula` prices the usage instead.
    pub amount: Option<AmountInput>,
    /// Credits as an expression over the usage's dimensions (and `value`).
    pub cost_formula: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency {
    pub id: String,
    pub display_name: Option<String>,
}

/// A plan's recurring grant: `amount_micros` every `cadence`, no rollover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCredit {
    pub currency_id: String,
    pub amount_micros: i64,
    pub cadence: Cadence,
    pub has_soft_limit: bool,
}

impl PlanCredit {
    /// Stored in a subscription as `{"c":currency,"a":micros,"k":cadence,"s"?:true}`.
    pub fn write(&self, out: &mut String) {
        let mut o = ObjectWriter::new(out);
        o.str("c", &self.currency_id).int("a", self.amount_micros).str("k", Cadence::NAMED[self.cadence as usize].0);
        if self.has_soft_limit {
            o.bool("s", true);
        }
        o.finish();
    }

    pub fn read(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            currency_id: f.string("c"),
            amount_micros: f.integer("a"),
            cadence: f.req("k", |v, p| decode::choice(v, p, &Cadence::NAMED)),
            has_soft_limit: f.opt_bool("s").unwrap_or(false),
        })
    }
}

impl FromJson for CatalogInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            currencies: f.req("currencies", |v, p| decode::list(v, p, CurrencyInput::from_json)),
            plans: f.list_or_empty("plans", PlanInput::from_json),
        })
    }
}

impl FromJson for CurrencyInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self { id: f.string("id"), display_name: f.opt_string("displayName") })
    }
}

impl FromJson for PlanInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            id: f.string("id"),
            credits: f.opt("credits", |v, p| decode::list(v, p, PlanCreditInput::from_json)),
            credit_rates: f.opt("creditRates", |v, p| decode::list(v, p, CreditRateInput::from_json)),
        })
    }
}

impl FromJson for PlanCreditInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            currency_id: f.string_either("currencyId", "creditTypeId"),
            amount: f.req("amount", AmountInput::from_json),
            cadence: f.req("cadence", |v, p| decode::choice(v, p, &Cadence::NAMED)),
            has_soft_limit: f.opt_bool("hasSoftLimit"),
        })
    }
}

impl FromJson for CreditRateInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        let f = Fields::of(value, path);
        f.finish(Self {
            feature_id: f.string("featureId"),
            currency_id: f.string_either("currencyId", "creditTypeId"),
            amount: f.opt("amount", AmountInput::from_json),
            cost_formula: f.opt_string("costFormula"),
        })
    }
}

/// One unit of `feature_id` costs `amount_micros` of `currency_id` on this plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditRate {
    pub currency_id: String,
    pub amount_micros: i64,
    pub formula: Option<Formula>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: String,
    pub credits: Vec<PlanCredit>,
    pub credit_rates: SortedMap<CreditRate>,
}

/// A validated catalog. Lookups are by id; every reference inside it resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub currencies: SortedMap<Currency>,
    pub plans: SortedMap<Plan>,
}

impl Catalog {
    pub fn from_input(input: CatalogInput) -> LedgerResult<Self> {
        if input.currencies.len() > CURRENCIES_MAX {
            return Err(LedgerError::limit("catalog.currencies", CURRENCIES_MAX));
        }
        if input.plans.len() > PLANS_MAX {
            return Err(LedgerError::limit("catalog.plans", PLANS_MAX));
        }
        let mut currencies = SortedMap::new();
        for (index, currency) in input.currencies.into_iter().enumerate() {
            check_id(&format!("catalog.currencies[{index}].id"), &currency.id)?;
            if let Some(name) = &currency.display_name {
                check_text(&format!("catalog.currencies[{index}].displayName"), name)?;
            }
            if currencies.contains_key(&currency.id) {
                return Err(LedgerError::invalid(
                    &format!("catalog.currencies[{index}].id"),
                    format!("duplicate currency \"{}\"", currency.id),
                ));
            }
            currencies.insert(currency.id.clone(), Currency { id: currency.id, display_name: currency.display_name });
        }
        let mut catalog = Catalog { currencies, plans: SortedMap::new() };
        for (index, plan) in input.plans.into_iter().enumerate() {
            let plan = catalog.plan_from_input(index, plan)?;
            if catalog.plans.contains_key(&plan.id) {
                return Err(LedgerError::invalid(
                    &format!("catalog.plans[{index}].id"),
                    format!("duplicate plan \"{}\"", plan.id),
                ));
            }
            catalog.plans.insert(plan.id.clone(), plan);
        }
        Ok(catalog)
    }

    fn plan_from_input(&self, index: usize, plan: PlanInput) -> LedgerResult<Plan> {
        let path = format!("catalog.plans[{index}]");
        check_id(&format!("{path}.id"), &plan.id)?;
        let credit_inputs = plan.credits.unwrap_or_default();
        let rate_inputs = plan.credit_rates.unwrap_or_default();
        if credit_inputs.len() > PLAN_ENTRIES_MAX || rate_inputs.len() > PLAN_ENTRIES_MAX {
            return Err(LedgerError::limit(format!("{path}.credits or .creditRates"), PLAN_ENTRIES_MAX));
        }
        let mut credits = Vec::with_capacity(credit_inputs.len());
        for (entry, credit) in credit_inputs.into_iter().enumerate() {
            let field = format!("{path}.credits[{entry}]");
            self.currency(&credit.currency_id).map_err(|_| {
                LedgerError::invalid(
                    &format!("{field}.currencyId"),
                    format!("unknown currency \"{}\"", credit.currency_id),
                )
            })?;
            credits.push(PlanCredit {
                amount_micros: credit.amount.positive_micros(&format!("{field}.amount"))?,
                currency_id: credit.currency_id,
                cadence: credit.cadence,
                has_soft_limit: credit.has_soft_limit.unwrap_or(false),
            });
        }
        let mut credit_rates = SortedMap::new();
        for (entry, rate) in rate_inputs.into_iter().enumerate() {
            let field = format!("{path}.creditRates[{entry}]");
            check_id(&format!("{field}.featureId"), &rate.feature_id)?;
            self.currency(&rate.currency_id).map_err(|_| {
                LedgerError::invalid(
                    &format!("{field}.currencyId"),
                    format!("unknown currency \"{}\"", rate.currency_id),
                )
            })?;
            let formula = rate
                .cost_formula
                .as_deref()
                .map(|text| Formula::parse(&format!("{field}.costFormula"), text))
                .transpose()?;
            let amount_micros = match (&rate.amount, &formula) {
                (Some(amount), _) => amount.positive_micros(&format!("{field}.amount"))?,
                (None, Some(_)) => 0,
                (None, None) => {
                    return Err(LedgerError::invalid(&format!("{field}.amount"), "is required without a costFormula"))
                }
            };
            let entry = CreditRate { currency_id: rate.currency_id, amount_micros, formula };
            let previous = credit_rates.insert(rate.feature_id.clone(), entry);
            if previous.is_some() {
                // One feature burns one currency on a plan, as in Stigg.
                return Err(LedgerError::invalid(
                    &format!("{field}.featureId"),
                    format!("duplicate feature \"{}\" on plan \"{}\"", rate.feature_id, plan.id),
                ));
            }
        }
        Ok(Plan { id: plan.id, credits, credit_rates })
    }

    pub fn currency(&self, currency_id: &str) -> LedgerResult<&Currency> {
        self.currencies.get(currency_id).ok_or_else(|| LedgerError::not_found(format!("currency \"{currency_id}\"")))
    }

    pub fn plan(&self, plan_id: &str) -> LedgerResult<&Plan> {
        self.plans.get(plan_id).ok_or_else(|| LedgerError::not_found(format!("plan \"{plan_id}\"")))
    }
}

pub fn check_text(field: &str, value: &str) -> LedgerResult<()> {
    if value.len() > TEXT_BYTES_MAX {
        return Err(LedgerError::invalid(
            field,
            format!("must be at most {TEXT_BYTES_MAX} bytes, got {}", value.len()),
        ));
    }
    Ok(())
}
