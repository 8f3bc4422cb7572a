//! The product catalog the host passes at construction: currencies, and plans
//! with their recurring credits and per-feature credit rates.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::amount::AmountInput;
use super::error::{LedgerError, LedgerResult};
use super::formula::Formula;
use super::keys::check_id;
use super::limits::{CURRENCIES_MAX, PLANS_MAX, PLAN_ENTRIES_MAX, TEXT_BYTES_MAX};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cadence {
    #[serde(rename = "MONTH")]
    Month,
    #[serde(rename = "YEAR")]
    Year,
}

impl Cadence {
    pub fn months(self) -> i64 {
        match self {
            Cadence::Month => 1,
            Cadence::Year => 12,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogInput {
    pub currencies: Vec<CurrencyInput>,
    #[serde(default)]
    pub plans: Vec<PlanInput>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyInput {
    pub id: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanInput {
    pub id: String,
    pub credits: Option<Vec<PlanCreditInput>>,
    pub credit_rates: Option<Vec<CreditRateInput>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanCreditInput {
    #[serde(alias = "creditTypeId")]
    pub currency_id: String,
    pub amount: AmountInput,
    pub cadence: Cadence,
    pub has_soft_limit: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditRateInput {
    pub feature_id: String,
    #[serde(alias = "creditTypeId")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanCredit {
    #[serde(rename = "c")]
    pub currency_id: String,
    #[serde(rename = "a")]
    pub amount_micros: i64,
    #[serde(rename = "k")]
    pub cadence: Cadence,
    #[serde(rename = "s", default)]
    pub has_soft_limit: bool,
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
    pub credit_rates: BTreeMap<String, CreditRate>,
}

/// A validated catalog. Lookups are by id; every reference inside it resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalog {
    pub currencies: BTreeMap<String, Currency>,
    pub plans: BTreeMap<String, Plan>,
}

impl Catalog {
    pub fn from_input(input: CatalogInput) -> LedgerResult<Self> {
        if input.currencies.len() > CURRENCIES_MAX {
            return Err(LedgerError::limit("catalog.currencies", CURRENCIES_MAX));
        }
        if input.plans.len() > PLANS_MAX {
            return Err(LedgerError::limit("catalog.plans", PLANS_MAX));
        }
        let mut currencies = BTreeMap::new();
        for (index, currency) in input.currencies.into_iter().enumerate() {
            check_id(&format!("catalog.currencies[{index}].id"), &currency.id)?;
            if let Some(name) = &currency.display_name {
                check_text(&format!("catalog.currencies[{index}].displayName"), name)?;
            }
            if currencies.contains_key(&currency.id) {
                return Err(LedgerError::invalid(
                    &format!("catalog.currencies[{index}].id"),
                    format!("duplicate currency {:?}", currency.id),
                ));
            }
            currencies.insert(currency.id.clone(), Currency { id: currency.id, display_name: currency.display_name });
        }
        let mut catalog = Catalog { currencies, plans: BTreeMap::new() };
        for (index, plan) in input.plans.into_iter().enumerate() {
            let plan = catalog.plan_from_input(index, plan)?;
            if catalog.plans.contains_key(&plan.id) {
                return Err(LedgerError::invalid(
                    &format!("catalog.plans[{index}].id"),
                    format!("duplicate plan {:?}", plan.id),
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
                    format!("unknown currency {:?}", credit.currency_id),
                )
            })?;
            credits.push(PlanCredit {
                amount_micros: credit.amount.positive_micros(&format!("{field}.amount"))?,
                currency_id: credit.currency_id,
                cadence: credit.cadence,
                has_soft_limit: credit.has_soft_limit.unwrap_or(false),
            });
        }
        let mut credit_rates = BTreeMap::new();
        for (entry, rate) in rate_inputs.into_iter().enumerate() {
            let field = format!("{path}.creditRates[{entry}]");
            check_id(&format!("{field}.featureId"), &rate.feature_id)?;
            self.currency(&rate.currency_id).map_err(|_| {
                LedgerError::invalid(&format!("{field}.currencyId"), format!("unknown currency {:?}", rate.currency_id))
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
                    format!("duplicate feature {:?} on plan {:?}", rate.feature_id, plan.id),
                ));
            }
        }
        Ok(Plan { id: plan.id, credits, credit_rates })
    }

    pub fn currency(&self, currency_id: &str) -> LedgerResult<&Currency> {
        self.currencies.get(currency_id).ok_or_else(|| LedgerError::not_found(format!("currency {currency_id:?}")))
    }

    pub fn plan(&self, plan_id: &str) -> LedgerResult<&Plan> {
        self.plans.get(plan_id).ok_or_else(|| LedgerError::not_found(format!("plan {plan_id:?}")))
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
