//! Cost formulas: a small, bounded expression language over usage dimensions,
//! evaluated in exact decimals (no floats, no `eval`).
//!
//! Grammar: `expr := term (('+'|'-') term)*`, `term := unary (('*'|'/') unary)*`,
//! `unary := '-' unary | primary`, `primary := number | name | name '(' args ')' | '(' expr ')'`
//! where the only functions are `min` and `max`. Names are dimension keys or
//! `value` (the usage's value). Division rounds to 18 decimal places; the
//! result is charged rounded up to a micro-credit.

use super::sorted_map::SortedMap;
use crate::prelude::*;

use super::error::{LedgerError, LedgerResult};
use super::json::{parse_int, split_at_byte, sub};
use super::limits::{AMOUNT_MICROS_MAX, MICROS_PER_CREDIT};

/// Bytes of formula text, nodes of a parsed formula, and nesting depth.
pub const FORMULA_BYTES_MAX: usize = 512;
pub const FORMULA_NODES_MAX: usize = 128;
pub const FORMULA_DEPTH_MAX: usize = 32;

/// Decimal places kept by division.
const DIVISION_PLACES: u32 = 18;
/// Largest exponent carried before rounding (keeps `10^e` inside i128).
const EXPONENT_MAX: u32 = 30;

/// `mantissa / 10^exponent`, exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decimal {
    mantissa: i128,
    exponent: u32,
}

fn pow10(exponent: u32) -> Option<i128> {
    10_i128.checked_pow(exponent)
}

impl Decimal {
    pub fn from_micros(micros: i64) -> Self {
        Self { mantissa: i128::from(micros), exponent: 6 }.normalized()
    }

    /// Parses `[-]digits[.digits]` exactly.
    pub fn parse(text: &str) -> Option<Self> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let point = split_at_byte(digits, b'.', false);
        let (whole, fraction) = point.unwrap_or((digits, ""));
        let valid = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !valid(whole) || !valid(fraction) || (point.is_some() && fraction.is_empty()) {
            return None;
        }
        let fraction = fraction.trim_end_matches('0');
        let exponent = u32::try_from(fraction.len()).ok().filter(|e| *e <= EXPONENT_MAX)?;
        let mantissa = parse_int(&format!("{whole}{fraction}"))?;
        Some(Self { mantissa: if negative { -mantissa } else { mantissa }, exponent }.normalized())
    }

    /// A JSON number's text (`-1.5e-3`, `2E+21`) exactly, when it fits.
    pub fn parse_number(text: &str) -> Option<Self> {
        let (base, exponent) = match text.find(['e', 'E']) {
            Some(at) => (
                sub(text, 0, at),
                i32::try_from(parse_int(sub(text, at + 1, text.len()).trim_start_matches('+'))?).ok()?,
            ),
            None => (text, 0),
        };
        let decimal = Self::parse(base)?;
        if exponent >= 0 {
            let scale = u32::try_from(exponent).ok().filter(|e| *e <= EXPONENT_MAX)?;
            let shift = scale.min(decimal.exponent);
            let mantissa = decimal.mantissa.checked_mul(pow10(scale - shift)?)?;
            Some(Self { mantissa, exponent: decimal.exponent - shift }.normalized())
        } else {
            let exponent = decimal.exponent.checked_add(exponent.unsigned_abs()).filter(|e| *e <= EXPONENT_MAX)?;
            Some(Self { mantissa: decimal.mantissa, exponent }.normalized())
        }
    }

    /// The value as a plain decimal (`-0.0015`, `1000`).
    pub fn plain(self) -> String {
        let negative = self.mantissa < 0;
        let digits = magnitude_digits(self.mantissa);
        let places = self.exponent as usize;
        let mut text = String::with_capacity(digits.len() + 3);
        if negative {
            text.push('-');
        }
        if digits.len() > places {
            text.push_str(sub(&digits, 0, digits.len() - places));
            if places > 0 {
                text.push('.');
                text.push_str(sub(&digits, digits.len() - places, digits.len()));
            }
        } else {
            text.push_str("0.");
            text.push_str(&"0".repeat(places - digits.len()));
            text.push_str(&digits);
        }
        text
    }

    fn normalized(mut self) -> Self {
        while self.exponent > 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.exponent -= 1;
        }
        self
    }

    fn aligned(self, exponent: u32) -> Option<i128> {
        self.mantissa.checked_mul(pow10(exponent - self.exponent)?)
    }

    fn add(self, other: Self) -> Option<Self> {
        let exponent = self.exponent.max(other.exponent);
        let mantissa = self.aligned(exponent)?.checked_add(other.aligned(exponent)?)?;
        Some(Self { mantissa, exponent }.normalized())
    }

    fn negated(self) -> Self {
        Self { mantissa: -self.mantissa, exponent: self.exponent }
    }

    fn mul(self, other: Self) -> Option<Self> {
        let product =
            Self { mantissa: self.mantissa.checked_mul(other.mantissa)?, exponent: self.exponent + other.exponent };
        product.normalized().rounded(EXPONENT_MAX)
    }

    fn div(self, other: Self) -> Option<Self> {
        if other.mantissa == 0 {
            return None;
        }
        // self / other = (m1 / m2) · 10^(e2 − e1); scale m1 so the quotient keeps DIVISION_PLACES.
        let scale = DIVISION_PLACES + other.exponent;
        let numerator = self.mantissa.checked_mul(pow10(scale.saturating_sub(self.exponent))?)?;
        let exponent = if scale >= self.exponent { DIVISION_PLACES } else { DIVISION_PLACES + self.exponent - scale };
        let quotient = numerator / other.mantissa;
        let remainder = numerator % other.mantissa;
        // Round half away from zero: the quotient's sign is the operands' signs combined.
        let sign = numerator.signum() * other.mantissa.signum();
        let adjust = if 2 * remainder.abs() >= other.mantissa.abs() { sign } else { 0 };
        Some(Self { mantissa: quotient + adjust, exponent }.normalized())
    }

    /// Rounds to at most `places` decimals (half away from zero).
    fn rounded(self, places: u32) -> Option<Self> {
        if self.exponent <= places {
            return Some(self);
        }
        let divisor = pow10(self.exponent - places)?;
        let quotient = self.mantissa / divisor;
        let remainder = self.mantissa % divisor;
        let adjust = if 2 * remainder.abs() >= divisor { self.mantissa.signum() } else { 0 };
        Some(Self { mantissa: quotient + adjust, exponent: places }.normalized())
    }

    fn cmp_value(self, other: Self) -> Option<core::cmp::Ordering> {
        let exponent = self.exponent.max(other.exponent);
        Some(self.aligned(exponent)?.cmp(&other.aligned(exponent)?))
    }

    /// Micro-credits, rounded up (the customer pays a fraction of a micro).
    pub fn to_micros_ceil(self) -> Option<i64> {
        let micros = if self.exponent <= 6 {
            self.mantissa.checked_mul(pow10(6 - self.exponent)?)?
        } else {
            let divisor = pow10(self.exponent - 6)?;
            let quotient = self.mantissa.div_euclid(divisor);
            if self.mantissa.rem_euclid(divisor) > 0 {
                quotient + 1
            } else {
                quotient
            }
        };
        i64::try_from(micros).ok()
    }
}

/// The digits of `value`'s magnitude, through the crate's u64 writer: core's
/// u128 `Display` was a large function of its own in the .wasm. Two halves of
/// at most 19 digits each (2^127 / 10^19 < u64::MAX).
fn magnitude_digits(value: i128) -> String {
    const HALF: u128 = 10_000_000_000_000_000_000;
    let magnitude = value.unsigned_abs();
    let mut digits = String::new();
    let (high, low) = ((magnitude / HALF) as u64, (magnitude % HALF) as u64);
    if high > 0 {
        crate::core::json::write_u64(&mut digits, high);
        crate::core::json::write_u64_padded(&mut digits, low, 19);
    } else {
        crate::core::json::write_u64(&mut digits, low);
    }
    digits
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Number(Decimal),
    Name(String),
    Negate(Box<Node>),
    Binary(u8, Box<Node>, Box<Node>),
    Call(bool, Vec<Node>), // true = max, false = min
}

/// A parsed cost formula.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formula {
    text: String,
    root: Node,
}

/// A dimension value as reported with a usage. A number keeps the text JS
/// wrote for it (its shortest round-trip form), read as an exact decimal.
#[derive(Debug, Clone, PartialEq)]
pub enum DimensionValue {
    Flag(bool),
    Number(String),
    Text(String),
}

impl crate::core::decode::FromJson for DimensionValue {
    fn from_json(
        value: &crate::core::json::Json<'_>,
        path: &crate::core::decode::At<'_>,
    ) -> crate::core::decode::Decoded<Self> {
        use crate::core::json::Json;
        match value {
            Json::Bool(flag) => Ok(DimensionValue::Flag(*flag)),
            Json::Number(text) => Ok(DimensionValue::Number(text.to_string())),
            Json::String(text) => Ok(DimensionValue::Text(text.to_string())),
            other => Err(crate::core::decode::wrong(path, "a number, a boolean or text", other)),
        }
    }
}

impl DimensionValue {
    /// The canonical text stored in the ledger (for grouping): numbers as
    /// plain decimals (`1e3` → `1000`), so one value always groups alike.
    pub fn canonical(&self) -> String {
        match self {
            DimensionValue::Flag(flag) => flag.to_string(),
            DimensionValue::Number(text) => Decimal::parse_number(text).map_or_else(|| text.clone(), Decimal::plain),
            DimensionValue::Text(text) => text.clone(),
        }
    }

    /// Whether a number is finite (a JSON number too large for a double is not).
    pub fn is_finite_number(&self) -> bool {
        match self {
            DimensionValue::Number(text) => crate::core::json::number_value(text).is_some(),
            _ => true,
        }
    }

    fn decimal(&self) -> Option<Decimal> {
        match self {
            DimensionValue::Flag(flag) => Some(Decimal { mantissa: i128::from(*flag), exponent: 0 }),
            DimensionValue::Number(text) => Decimal::parse_number(text),
            DimensionValue::Text(text) => Decimal::parse(text.trim()),
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    nodes: usize,
}

impl Parser<'_> {
    fn skip_spaces(&mut self) {
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_spaces();
        self.bytes.get(self.at).copied()
    }

    fn node(&mut self, node: Node) -> Result<Node, String> {
        self.nodes += 1;
        if self.nodes > FORMULA_NODES_MAX {
            return Err(format!("has more than {FORMULA_NODES_MAX} terms"));
        }
        Ok(node)
    }

    fn expression(&mut self, depth: usize) -> Result<Node, String> {
        if depth > FORMULA_DEPTH_MAX {
            return Err(format!("nests deeper than {FORMULA_DEPTH_MAX}"));
        }
        let mut left = self.term(depth)?;
        while let Some(op @ (b'+' | b'-')) = self.peek() {
            self.at += 1;
            let right = self.term(depth)?;
            left = self.node(Node::Binary(op, Box::new(left), Box::new(right)))?;
        }
        Ok(left)
    }

    fn term(&mut self, depth: usize) -> Result<Node, String> {
        let mut left = self.unary(depth)?;
        while let Some(op @ (b'*' | b'/')) = self.peek() {
            self.at += 1;
            let right = self.unary(depth)?;
            left = self.node(Node::Binary(op, Box::new(left), Box::new(right)))?;
        }
        Ok(left)
    }

    fn unary(&mut self, depth: usize) -> Result<Node, String> {
        if self.peek() == Some(b'-') {
            self.at += 1;
            if depth > FORMULA_DEPTH_MAX {
                return Err(format!("nests deeper than {FORMULA_DEPTH_MAX}"));
            }
            let inner = self.unary(depth + 1)?;
            return self.node(Node::Negate(Box::new(inner)));
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Node, String> {
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                let inner = self.expression(depth + 1)?;
                self.expect(b')')?;
                Ok(inner)
            }
            Some(b) if b.is_ascii_digit() => {
                let start = self.at;
                while self.bytes.get(self.at).is_some_and(|b| b.is_ascii_digit() || *b == b'.') {
                    self.at += 1;
                }
                let text = sub(self.text, start, self.at);
                let number = Decimal::parse(text).ok_or_else(|| format!("has a bad number \"{text}\""))?;
                self.node(Node::Number(number))
            }
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => {
                let start = self.at;
                while self.bytes.get(self.at).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
                    self.at += 1;
                }
                let name = sub(self.text, start, self.at).to_string();
                if self.peek() == Some(b'(') {
                    let is_max = match name.as_str() {
                        "max" => true,
                        "min" => false,
                        _ => return Err(format!("calls unknown function \"{name}\" (only min and max)")),
                    };
                    self.at += 1;
                    let mut args = vec![self.expression(depth + 1)?];
                    while self.peek() == Some(b',') {
                        self.at += 1;
                        args.push(self.expression(depth + 1)?);
                    }
                    self.expect(b')')?;
                    return self.node(Node::Call(is_max, args));
                }
                self.node(Node::Name(name))
            }
            Some(other) => Err(format!("has an unexpected '{}' at byte {}", other as char, self.at)),
            None => Err("ends too early".to_string()),
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        if self.peek() != Some(byte) {
            return Err(format!("expects '{}' at byte {}", byte as char, self.at));
        }
        self.at += 1;
        Ok(())
    }
}

impl Formula {
    pub fn parse(field: &str, text: &str) -> LedgerResult<Self> {
        if text.len() > FORMULA_BYTES_MAX {
            return Err(LedgerError::invalid(field, format!("is longer than {FORMULA_BYTES_MAX} bytes")));
        }
        let mut parser = Parser { text, bytes: text.as_bytes(), at: 0, nodes: 0 };
        let root =
            parser.expression(0).map_err(|reason| LedgerError::invalid(field, format!("\"{text}\" {reason}")))?;
        if parser.peek().is_some() {
            return Err(LedgerError::invalid(field, format!("\"{text}\" has trailing input at byte {}", parser.at)));
        }
        Ok(Self { text: text.to_string(), root })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates to micro-credits (rounded up). `value` is the usage's value.
    pub fn cost_micros(&self, value_micros: i64, dimensions: &SortedMap<DimensionValue>) -> LedgerResult<i64> {
        let result = evaluate(&self.root, value_micros, dimensions, &self.text)?;
        let micros = result
            .to_micros_ceil()
            .ok_or_else(|| LedgerError::invalid("dimensions", format!("cost formula \"{}\" overflows", self.text)))?;
        if micros < 0 {
            return Err(LedgerError::invalid(
                "dimensions",
                format!("cost formula \"{}\" gives a negative cost", self.text),
            ));
        }
        if micros > AMOUNT_MICROS_MAX {
            return Err(LedgerError::invalid(
                "dimensions",
                format!("cost formula \"{}\" exceeds {} credits", self.text, AMOUNT_MICROS_MAX / MICROS_PER_CREDIT),
            ));
        }
        Ok(micros)
    }
}

fn evaluate(node: &Node, value_micros: i64, dims: &SortedMap<DimensionValue>, text: &str) -> LedgerResult<Decimal> {
    let overflow =
        || LedgerError::invalid("dimensions", format!("cost formula \"{text}\" overflows or divides by zero"));
    Ok(match node {
        Node::Number(number) => *number,
        Node::Name(name) if name == "value" && !dims.contains_key("value") => Decimal::from_micros(value_micros),
        Node::Name(name) => {
            let dimension = dims.get(name).ok_or_else(|| {
                LedgerError::invalid(&format!("dimensions.{name}"), format!("is needed by cost formula \"{text}\""))
            })?;
            dimension.decimal().ok_or_else(|| {
                LedgerError::invalid(
                    &format!("dimensions.{name}"),
                    format!("is not a number: \"{}\"", dimension.canonical()),
                )
            })?
        }
        Node::Negate(inner) => evaluate(inner, value_micros, dims, text)?.negated(),
        Node::Binary(op, left, right) => {
            let (a, b) = (evaluate(left, value_micros, dims, text)?, evaluate(right, value_micros, dims, text)?);
            match op {
                b'+' => a.add(b),
                b'-' => a.add(b.negated()),
                b'*' => a.mul(b),
                _ => a.div(b),
            }
            .ok_or_else(overflow)?
        }
        Node::Call(is_max, args) => {
            let mut best = evaluate(&args[0], value_micros, dims, text)?;
            for arg in &args[1..] {
                let candidate = evaluate(arg, value_micros, dims, text)?;
                let ordering = candidate.cmp_value(best).ok_or_else(overflow)?;
                if (*is_max && ordering.is_gt()) || (!*is_max && ordering.is_lt()) {
                    best = candidate;
                }
            }
            best
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(formula: &str, dims: &[(&str, DimensionValue)]) -> LedgerResult<i64> {
        let dims: SortedMap<DimensionValue> = dims.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        Formula::parse("costFormula", formula)?.cost_micros(1_000_000, &dims)
    }

    #[test]
    fn the_stigg_example_is_exact() {
        use DimensionValue::Number;
        let two = [("model1_tokens", Number("1000".into())), ("model2_tokens", Number("3e2".into()))];
        assert_eq!(cost("1.1*model1_tokens + 1.5*model2_tokens", &two), Ok(1_550_000_000));
        assert_eq!(cost("0.1 + 0.2", &[]), Ok(300_000), "no float drift");
        assert_eq!(cost("(1 + 2) * -(-3) / 4", &[]), Ok(2_250_000));
        assert_eq!(cost("max(1, 2.5, 2) + min(4, value)", &[]), Ok(3_500_000));
        assert_eq!(cost("1/3", &[]), Ok(333_334), "rounded up to a micro");
        assert_eq!(
            cost(
                "flag * 2 + tokens",
                &[("flag", DimensionValue::Flag(true)), ("tokens", DimensionValue::Text("7".into()))]
            ),
            Ok(9_000_000)
        );
    }

    #[test]
    fn magnitude_digits_are_displays() {
        let big = 10_i128.pow(19);
        for value in [0, 9, -10, big - 1, big, -(big + 7), i128::from(u64::MAX) + 1, i128::MAX, i128::MIN] {
            assert_eq!(magnitude_digits(value), value.unsigned_abs().to_string());
        }
    }

    #[test]
    fn what_does_not_evaluate_is_an_invalid_argument() {
        use DimensionValue::{Number, Text};
        for formula in ["", "1 +", "(1", "1 2", "pow(2, 3)", "a..b", "1 $ 2", &"(".repeat(40), &"1+".repeat(200)] {
            assert_eq!(Formula::parse("costFormula", formula).unwrap_err().code(), "INVALID_ARGUMENT", "{formula}");
        }
        assert!(cost("tokens", &[]).unwrap_err().to_string().contains("dimensions.tokens"));
        assert_eq!(cost("tokens", &[("tokens", Text("many".into()))]).unwrap_err().code(), "INVALID_ARGUMENT");
        assert_eq!(cost("1 / (a - a)", &[("a", Number("2".into()))]).unwrap_err().code(), "INVALID_ARGUMENT");
        assert_eq!(cost("0 - 5", &[]).unwrap_err().code(), "INVALID_ARGUMENT");
        assert_eq!(Number("1.5e-3".into()).canonical(), "0.0015");
        assert_eq!(Number("2E+21".into()).canonical(), "2000000000000000000000");
        assert_eq!(cost("a * a * a * a", &[("a", Number("1e15".into()))]).unwrap_err().code(), "INVALID_ARGUMENT");
    }
}
