//! Exact fixed-point amounts: integer micros (1e-6 credit) end to end.
//!
//! JS hands us IEEE doubles. `0.1` is not exactly representable, so a double
//! is read as the nearest micro, but only when it is within floating-point
//! noise of one; anything with real precision below a micro is rejected rather
//! than silently rounded. Decimal strings are parsed exactly.

use super::decode::{self, At, Decoded};
use super::error::{LedgerError, LedgerResult};
use super::float;
use super::json::Json;
use super::limits::{AMOUNT_MICROS_MAX, MICROS_PER_CREDIT};
use crate::prelude::*;

/// An amount as the caller wrote it, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum AmountInput {
    Number(f64),
    Text(String),
}

/// What a field that failed to read holds while its error is reported.
impl Default for AmountInput {
    fn default() -> Self {
        AmountInput::Number(0.0)
    }
}

impl decode::FromJson for AmountInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        match value {
            Json::Number(_) => decode::number(value, path).map(AmountInput::Number),
            Json::String(text) => Ok(AmountInput::Text(text.to_string())),
            other => Err(decode::wrong(path, "a number or a decimal string", other)),
        }
    }
}

impl AmountInput {
    /// Micros of a strictly positive amount no larger than `AMOUNT_MICROS_MAX`.
    pub fn positive_micros(&self, field: &str) -> LedgerResult<i64> {
        let micros = self.micros(field)?;
        if micros <= 0 {
            return Err(LedgerError::invalid(field, "must be greater than 0"));
        }
        Ok(micros)
    }

    /// Micros of an amount that may be 0 but not negative.
    pub fn non_negative_micros(&self, field: &str) -> LedgerResult<i64> {
        let micros = self.micros(field)?;
        if micros < 0 {
            return Err(LedgerError::invalid(field, "must not be negative"));
        }
        Ok(micros)
    }

    fn micros(&self, field: &str) -> LedgerResult<i64> {
        match self {
            AmountInput::Number(value) => micros_from_f64(*value).map_err(|r| LedgerError::invalid(field, r)),
            AmountInput::Text(text) => micros_from_decimal(text).map_err(|r| LedgerError::invalid(field, r)),
        }
    }
}

/// Reads a double as micros. Rejects NaN, infinities, values out of range and
/// values that carry precision finer than a micro.
pub fn micros_from_f64(value: f64) -> Result<i64, String> {
    if !value.is_finite() {
        return Err(format!("must be a finite number, got {}", describe_number(value)));
    }
    let limit = (AMOUNT_MICROS_MAX / MICROS_PER_CREDIT) as f64;
    if value.abs() > limit {
        return Err(format!(
            "must be at most {} in absolute value, got {}",
            AMOUNT_MICROS_MAX / MICROS_PER_CREDIT,
            describe_number(value)
        ));
    }
    let scaled = value * MICROS_PER_CREDIT as f64;
    let rounded = float::round(scaled);
    // Doubles carry ~16 significant digits; what separates `scaled` from an
    // integer when the caller meant a 6-decimal number is representation noise,
    // bounded by a few ulps of `scaled`.
    let noise = (scaled.abs() * 8.0 * f64::EPSILON).max(1e-6);
    if (scaled - rounded).abs() > noise {
        return Err(format!("has more than 6 decimal places: {}", describe_number(value)));
    }
    Ok(rounded as i64)
}

/// Parses `[-]digits[.digits]` exactly; at most 6 significant fraction digits.
pub fn micros_from_decimal(text: &str) -> Result<i64, String> {
    let trimmed = text.trim();
    let (negative, unsigned) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed),
    };
    let point = super::json::split_at_byte(unsigned, b'.', false);
    let (whole, fraction) = point.unwrap_or((unsigned, ""));
    let digits_ok = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits_ok(whole) || !digits_ok(fraction) || (point.is_some() && fraction.is_empty()) {
        return Err(format!("is not a decimal number: \"{text}\""));
    }
    let fraction_kept = fraction.trim_end_matches('0');
    if fraction_kept.len() > 6 {
        return Err(format!("has more than 6 decimal places: \"{text}\""));
    }
    let whole_kept = whole.trim_start_matches('0');
    let limit_whole_digits = 10; // AMOUNT_MICROS_MAX / MICROS_PER_CREDIT has 10 digits.
    if whole_kept.len() > limit_whole_digits {
        return Err(format!("is too large: \"{text}\""));
    }
    let whole_value: i64 = if whole_kept.is_empty() {
        0
    } else {
        super::json::parse_int(whole_kept)
            .and_then(|whole| i64::try_from(whole).ok())
            .ok_or_else(|| format!("is not a decimal number: \"{text}\""))?
    };
    let mut fraction_value: i64 = 0;
    for (index, byte) in fraction_kept.bytes().enumerate() {
        fraction_value += i64::from(byte - b'0') * 10_i64.pow(5 - index as u32);
    }
    let magnitude = whole_value * MICROS_PER_CREDIT + fraction_value;
    if magnitude > AMOUNT_MICROS_MAX {
        return Err(format!("must be at most {} in absolute value: \"{text}\"", AMOUNT_MICROS_MAX / MICROS_PER_CREDIT));
    }
    Ok(if negative { -magnitude } else { magnitude })
}

/// A JS number for an error message, to 15 significant digits, without the
/// float formatting machinery (`{}` of an f64 alone weighs ~14 KB of wasm).
pub fn describe_number(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    let magnitude = value.abs();
    if magnitude >= 1e15 || (magnitude < 1e-6 && magnitude > 0.0) {
        return if value > 0.0 { "a number beyond 1e15 or below 1e-6" } else { "a negative number beyond 1e15" }
            .to_string();
    }
    let whole_digits = whole_digits(magnitude);
    let places = (15 - whole_digits).clamp(0, 14) as u32;
    // 15 significant digits: at most 10^15, so u64 arithmetic (no i128 division) holds them.
    let scaled = float::round(magnitude * (0..places).fold(1.0, |power: f64, _| power * 10.0)) as u64;
    let scale = 10u64.pow(places);
    let mut text = format!("{}{}", if value < 0.0 { "-" } else { "" }, scaled / scale);
    let fraction = scaled % scale;
    if fraction != 0 {
        let mut digits = format!("{fraction:0width$}", width = places as usize);
        while digits.ends_with('0') {
            digits.pop();
        }
        text.push('.');
        text.push_str(&digits);
    }
    text
}

/// Digits before the point of a magnitude in [1e-6, 1e15) (1 below 1.0):
/// `10^k` is exact as a double for every `k` here, so the count is exact.
fn whole_digits(magnitude: f64) -> i32 {
    let mut digits = 1;
    let mut power = 10.0;
    while magnitude >= power && digits < 16 {
        digits += 1;
        power *= 10.0;
    }
    digits
}

/// Micros as a JS number. Exact for |micros| < 2^53, the nearest double to the
/// decimal otherwise (totals are kept below that bound, see `TOTAL_MICROS_MAX`).
pub fn micros_to_f64(micros: i64) -> f64 {
    micros as f64 / MICROS_PER_CREDIT as f64
}

/// `value × rate` in micros, rounded up to the next micro: when a product has
/// more than 6 decimals, the customer pays the fraction (never the ledger).
pub fn multiply_micros_ceil(value_micros: i64, rate_micros: i64) -> Option<i64> {
    assert!(value_micros >= 0);
    assert!(rate_micros >= 0);
    let product = i128::from(value_micros) * i128::from(rate_micros);
    let divisor = i128::from(MICROS_PER_CREDIT);
    let cost = (product + divisor - 1) / divisor;
    i64::try_from(cost).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_six_decimals_are_exact() {
        assert_eq!(micros_from_f64(0.1), Ok(100_000));
        assert_eq!(micros_from_f64(0.1 + 0.2), Ok(300_000));
        assert_eq!(micros_from_f64(1_000_000_000.0), Ok(AMOUNT_MICROS_MAX));
        assert_eq!(micros_from_f64(123.456789), Ok(123_456_789));
        assert_eq!(micros_from_f64(-2.5), Ok(-2_500_000));
    }

    #[test]
    fn doubles_out_of_range_or_too_precise_are_rejected() {
        assert!(micros_from_f64(f64::NAN).is_err());
        assert!(micros_from_f64(f64::INFINITY).is_err());
        assert!(micros_from_f64(0.0000001).is_err());
        assert!(micros_from_f64(1.0000005).is_err());
        assert!(micros_from_f64(1_000_000_001.0).is_err());
    }

    #[test]
    fn decimal_strings_are_parsed_exactly() {
        assert_eq!(micros_from_decimal("0.1"), Ok(100_000));
        assert_eq!(micros_from_decimal("007.250000000"), Ok(7_250_000));
        assert_eq!(micros_from_decimal("-3"), Ok(-3_000_000));
        assert!(micros_from_decimal("1e3").is_err());
        assert!(micros_from_decimal("1.").is_err());
        assert!(micros_from_decimal(".5").is_err());
        assert!(micros_from_decimal("0.0000001").is_err());
        assert!(micros_from_decimal("").is_err());
        assert!(micros_from_decimal("99999999999").is_err());
    }

    #[test]
    fn numbers_in_messages_read_as_written() {
        assert_eq!(describe_number(1.0000005), "1.0000005");
        assert_eq!(describe_number(0.1 + 0.2), "0.3");
        assert_eq!(describe_number(-2.5), "-2.5");
        assert_eq!(describe_number(1e12), "1000000000000");
        assert_eq!(describe_number(f64::NAN), "NaN");
        assert_eq!(describe_number(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn ten_tenths_make_one() {
        let tenth = micros_from_f64(0.1).unwrap();
        assert_eq!((0..10).map(|_| tenth).sum::<i64>(), MICROS_PER_CREDIT);
        assert_eq!(micros_to_f64(300_000), 0.3);
    }

    #[test]
    fn multiplication_rounds_up_to_a_micro() {
        assert_eq!(multiply_micros_ceil(100_000, 1_500_000), Some(150_000));
        assert_eq!(multiply_micros_ceil(1, 1), Some(1));
        assert_eq!(multiply_micros_ceil(3_000_000, 333_333), Some(999_999));
    }
}
