//! A small JSON reader and writer: the one text format of the library.
//!
//! Inputs cross the JS boundary as JSON text (`JSON.stringify`, native and
//! fast), results go back as JSON text (`JSON.parse`), and stored records are
//! JSON too. One hand-written codec instead of serde's per-type generated
//! code keeps the `.wasm` small, and lets every decoding error name the exact
//! field path (`catalog.plans[0].credits[1].cadence`).
//!
//! Bounded: text length (`JSON_BYTES_MAX`), nesting depth (`JSON_DEPTH_MAX`,
//! so the recursive reader cannot overflow the stack) and values
//! (`JSON_VALUES_MAX`). Numbers keep their text: integers are read exactly,
//! amounts and other JS numbers through `f64` as JS wrote them.

use crate::prelude::*;
use alloc::borrow::Cow;

/// Longest JSON text read (an input, or one stored record).
pub const JSON_BYTES_MAX: usize = 4 << 20;
/// Deepest nesting read. Real inputs nest 5 levels (`catalog.plans[i].creditRates[j].amount`).
pub const JSON_DEPTH_MAX: u32 = 32;
/// Values in one text.
pub const JSON_VALUES_MAX: u32 = 1 << 20;

/// The key of the object the binding's `JSON.stringify` replacer puts where a
/// JS value has no JSON form (NaN, ±Infinity, an invalid Date): `{"\u0000": "NaN"}`.
pub const NOT_JSON_MARKER: &str = "\u{0}";

/// A parsed value, borrowing from the text: strings without escapes, keys and
/// numbers are slices of it, so reading a stored head allocates little.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    /// The number's text, as written (validated JSON number syntax).
    Number(&'a str),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Keys in text order; a repeated key: the last one counts.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl Json<'_> {
    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::String(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(entries) if not_json(entries).is_some() => "a non-finite number",
            Json::Object(_) => "an object",
        }
    }

    pub fn get(&self, key: &str) -> Option<&Self> {
        match self {
            Json::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The JS value a non-JSON marker stands for (`"NaN"`, `"Infinity"`, `"Invalid Date"`).
pub fn not_json<'a>(entries: &'a [(Cow<'_, str>, Json<'_>)]) -> Option<&'a str> {
    match entries {
        [(key, Json::String(what))] if key == NOT_JSON_MARKER => Some(what),
        _ => None,
    }
}

/// Parses one JSON text.
pub fn parse(text: &str) -> Result<Json<'_>, String> {
    if text.len() > JSON_BYTES_MAX {
        return Err(format!("is too large (more than {JSON_BYTES_MAX} bytes of JSON)"));
    }
    let mut reader = Reader { text, bytes: text.as_bytes(), at: 0, values: 0 };
    let value = reader.value(0)?;
    reader.skip_spaces();
    if reader.at != reader.bytes.len() {
        return Err(reader.error("unexpected text after the value"));
    }
    Ok(value)
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    values: u32,
}

impl<'a> Reader<'a> {
    fn error(&self, what: &str) -> String {
        format!("is not valid JSON: {what} at byte {}", self.at)
    }

    fn skip_spaces(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_spaces();
        if self.bytes.get(self.at) != Some(&byte) {
            return Err(self.error(&format!("expected '{}'", byte as char)));
        }
        self.at += 1;
        Ok(())
    }

    fn literal(&mut self, word: &str, value: Json<'a>) -> Result<Json<'a>, String> {
        if !self.bytes[self.at..].starts_with(word.as_bytes()) {
            return Err(self.error("unknown literal"));
        }
        self.at += word.len();
        Ok(value)
    }

    fn value(&mut self, depth: u32) -> Result<Json<'a>, String> {
        self.values += 1;
        if self.values > JSON_VALUES_MAX {
            return Err(format!("holds more than {JSON_VALUES_MAX} values"));
        }
        self.skip_spaces();
        match self.bytes.get(self.at) {
            None => Err(self.error("unexpected end")),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'[') => self.array(depth + 1),
            Some(b'{') => self.object(depth + 1),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("unexpected character")),
        }
    }

    fn deeper(&self, depth: u32) -> Result<(), String> {
        if depth > JSON_DEPTH_MAX {
            return Err(format!("nests deeper than {JSON_DEPTH_MAX} levels"));
        }
        Ok(())
    }

    fn array(&mut self, depth: u32) -> Result<Json<'a>, String> {
        self.deeper(depth)?;
        self.at += 1;
        let mut items = Vec::new();
        self.skip_spaces();
        if self.bytes.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.skip_spaces();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: u32) -> Result<Json<'a>, String> {
        self.deeper(depth)?;
        self.at += 1;
        let mut entries = Vec::new();
        self.skip_spaces();
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(Json::Object(entries));
        }
        loop {
            self.skip_spaces();
            if self.bytes.get(self.at) != Some(&b'"') {
                return Err(self.error("expected a key"));
            }
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value(depth)?;
            entries.push((key, value));
            self.skip_spaces();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(entries));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn number(&mut self) -> Result<Json<'a>, String> {
        let start = self.at;
        let digits = |reader: &mut Self| {
            let from = reader.at;
            while reader.bytes.get(reader.at).is_some_and(u8::is_ascii_digit) {
                reader.at += 1;
            }
            reader.at - from
        };
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        let whole = digits(self);
        let leading_zero = whole > 1 && self.bytes[self.at - whole] == b'0';
        if whole == 0 || leading_zero {
            return Err(self.error("malformed number"));
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.error("malformed number"));
            }
        }
        if matches!(self.bytes.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.bytes.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("malformed number"));
            }
        }
        // Digits, signs, '.', 'e': ASCII, so these are character boundaries.
        Ok(Json::Number(sub(self.text, start, self.at)))
    }

    /// A string: borrowed from the text when it has no escape.
    fn string(&mut self) -> Result<Cow<'a, str>, String> {
        self.at += 1; // the opening quote
        let start = self.at;
        let mut out: Option<String> = None;
        loop {
            let run = self.at;
            while self.bytes.get(self.at).is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20) {
                self.at += 1;
            }
            // Runs end at ASCII ('"', '\\', a control byte): character boundaries.
            match self.bytes.get(self.at) {
                Some(b'"') => {
                    let last = sub(self.text, run, self.at);
                    self.at += 1;
                    return Ok(match out {
                        None => Cow::Borrowed(sub(self.text, start, self.at - 1)),
                        Some(mut owned) => {
                            owned.push_str(last);
                            Cow::Owned(owned)
                        }
                    });
                }
                Some(b'\\') => {
                    let owned = out.get_or_insert_with(String::new);
                    owned.push_str(sub(self.text, run, self.at));
                    self.at += 1;
                    self.escape(owned)?;
                }
                Some(_) => return Err(self.error("a control character in a string")),
                None => return Err(self.error("an unterminated string")),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), String> {
        let byte = self.bytes.get(self.at).copied();
        self.at += 1;
        let c = match byte {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let unit = self.hex4()?;
                if (0xD800..0xDC00).contains(&unit) {
                    // A high surrogate must be followed by a low one.
                    if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                        return Err(self.error("a lone surrogate"));
                    }
                    self.at += 2;
                    let low = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return Err(self.error("a lone surrogate"));
                    }
                    let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    char::from_u32(code).ok_or_else(|| self.error("a bad escape"))?
                } else {
                    char::from_u32(unit).ok_or_else(|| self.error("a lone surrogate"))?
                }
            }
            _ => return Err(self.error("a bad escape")),
        };
        out.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.bytes.get(self.at..self.at + 4).ok_or_else(|| self.error("a short \\u escape"))?;
        // By hand: `u32::from_str_radix` is another copy of core's digit loop.
        let mut value = 0;
        for &byte in digits {
            let digit = char::from(byte).to_digit(16).ok_or_else(|| self.error("a bad \\u escape"))?;
            value = value * 16 + digit;
        }
        self.at += 4;
        Ok(value)
    }
}

/// A JSON number's value as the double JS holds for it, without the standard
/// float parser (its tables and code weigh ~9 KB of wasm). Exact whenever the
/// digits fit 2^53 and the power of ten is at most 22 — every integer JS
/// writes, every amount with up to 15 significant digits (one correctly
/// rounded operation, Clinger's fast path). Otherwise within a few units in
/// the last place, which is below what any field's check can tell apart
/// (amounts accept doubles within noise of a micro; integers must be whole).
/// `None` for text that is not a JSON number, or beyond ±1e300.
pub fn number_value(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let (negative, mut at) = if bytes.first() == Some(&b'-') { (true, 1) } else { (false, 0) };
    let mut mantissa: u64 = 0;
    let mut exponent: i32 = 0;
    let mut digits = 0;
    let mut seen_point = false;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'0'..=b'9' => {
                if mantissa < (1 << 60) / 10 {
                    mantissa = mantissa * 10 + u64::from(byte - b'0');
                    if seen_point {
                        exponent -= 1;
                    }
                } else if !seen_point {
                    exponent += 1; // a digit beyond what the mantissa keeps
                }
                digits += 1;
            }
            b'.' if !seen_point => seen_point = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        at += 1;
    }
    if digits == 0 {
        return None;
    }
    if at < bytes.len() {
        let written = i32::try_from(parse_int(sub(text, at + 1, text.len()).trim_start_matches('+'))?).ok()?;
        exponent = exponent.checked_add(written)?;
    }
    if !(-330..=300).contains(&exponent) {
        return (exponent < 0).then_some(if negative { -0.0 } else { 0.0 });
    }
    let mut value = mantissa as f64;
    let ten = |power: i32| -> f64 {
        let mut result = 1.0;
        for _ in 0..power.unsigned_abs().min(330) {
            result *= 10.0;
        }
        result
    };
    if exponent >= 0 {
        value *= ten(exponent);
    } else if exponent >= -22 {
        value /= ten(exponent);
    } else {
        // Two steps keep the intermediate power of ten finite.
        value /= ten(22);
        value /= ten(exponent + 22);
    }
    Some(if negative { -value } else { value })
}

/// An integer as `str::parse` reads one: an optional `+` or `-`, then one or
/// more ASCII digits; `None` past `i128`. One body for every integer type
/// (`i64::try_from(parse_int(text)?)`): each `str::parse::<T>` is a copy of
/// core's digit loop, four of them in the .wasm before (HACKING.md, "Values across the boundary").
pub fn parse_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        all => (false, all),
    };
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: i128 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        // Accumulated negative for a negative number, so i128::MIN parses too.
        let digit = i128::from(byte - b'0');
        let shifted = magnitude.checked_mul(10)?;
        magnitude = if negative { shifted.checked_sub(digit)? } else { shifted.checked_add(digit)? };
    }
    Some(magnitude)
}

/// `text.split_once(byte)` for an ASCII `byte` (`last`: `rsplit_once`), by
/// a byte scan: core's char-pattern search brings memchr and its searcher
/// into the .wasm (HACKING.md, "Values across the boundary").
pub fn split_at_byte(text: &str, byte: u8, last: bool) -> Option<(&str, &str)> {
    assert!(byte.is_ascii());
    let mut bytes = text.bytes();
    let at = if last { bytes.rposition(|b| b == byte) } else { bytes.position(|b| b == byte) }?;
    Some((sub(text, 0, at), sub(text, at + 1, text.len())))
}

/// `parse_int` for a type without a sign: a `-` is refused, as `str::parse` does.
pub fn parse_unsigned(text: &str) -> Option<u64> {
    if text.starts_with('-') {
        return None;
    }
    u64::try_from(parse_int(text)?).ok()
}

/// Whether `byte` must be escaped inside a JSON string.
fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// `&text[start..end]`, for boundaries the caller found at ASCII bytes. Not
/// `str` indexing: its panic formats the char at a bad boundary with `{:?}`,
/// code the .wasm otherwise does without (HACKING.md, "Values across the boundary"). A bad boundary
/// here is a bug.
pub fn sub(text: &str, start: usize, end: usize) -> &str {
    match text.get(start..end) {
        Some(part) => part,
        None => panic!("a str cut where no char starts"),
    }
}

/// Appends `text` as a JSON string. Ids, keys and names almost never need
/// escaping, so the common case is one scan and one copy.
pub fn write_str(out: &mut String, text: &str) {
    out.push('"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        if !needs_escape(byte) {
            continue;
        }
        out.push_str(sub(text, start, index));
        out.push('\\');
        match byte {
            b'"' | b'\\' => out.push(byte as char),
            b'\n' => out.push('n'),
            b'\r' => out.push('r'),
            b'\t' => out.push('t'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("u00");
                out.push(HEX[usize::from(byte >> 4)] as char);
                out.push(HEX[usize::from(byte & 0xf)] as char);
            }
        }
        start = index + 1;
    }
    out.push_str(sub(text, start, text.len()));
    out.push('"');
}

/// Appends the decimal digits of `value`, without `core::fmt` (which is slow
/// and large for a hot path that writes a dozen integers per record).
pub fn write_u64(out: &mut String, value: u64) {
    write_u64_padded(out, value, 1);
}

/// `write_u64`, zero-padded to at least `width` digits (at most 20). Two
/// digits per division, as `itoa` does: timestamps have 13.
pub fn write_u64_padded(out: &mut String, value: u64, width: usize) {
    // "00" to "99" as text: digits are pushed as `&str` pieces of it, so
    // there is no per-char push and no UTF-8 check of bytes known to be ASCII.
    const PAIRS: &str = "0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    // The base-100 digits of `value`, least significant first (u64::MAX has 10).
    let mut pairs = [0_usize; 10];
    let mut count = 0;
    let mut rest = value;
    loop {
        pairs[count] = (rest % 100) as usize;
        count += 1;
        rest /= 100;
        if rest == 0 {
            break;
        }
    }
    let top = pairs[count - 1];
    let digits = 2 * count - usize::from(top < 10);
    for _ in digits..width.min(20) {
        out.push('0');
    }
    let first = if top < 10 { 2 * top + 1 } else { 2 * top };
    out.push_str(sub(PAIRS, first, 2 * top + 2));
    for &pair in pairs[..count - 1].iter().rev() {
        out.push_str(sub(PAIRS, 2 * pair, 2 * pair + 2));
    }
}

/// Appends `value` in decimal.
pub fn write_i64(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    write_u64(out, value.unsigned_abs());
}

/// Appends an amount of micros as an exact decimal number (`-12.5`, `0.000001`):
/// what JS reads back is the nearest double, the same as `micros / 1e6`.
pub fn write_micros(out: &mut String, micros: i64) {
    let magnitude = micros.unsigned_abs();
    if micros < 0 {
        out.push('-');
    }
    write_u64(out, magnitude / 1_000_000);
    let mut fraction = magnitude % 1_000_000;
    if fraction != 0 {
        out.push('.');
        let mut scale = 100_000;
        while fraction != 0 {
            out.push((b'0' + (fraction / scale) as u8) as char);
            fraction %= scale;
            scale /= 10;
        }
    }
}

/// Writes one JSON object: `{"key":value,…}`.
#[derive(Debug)]
pub struct ObjectWriter<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> ObjectWriter<'a> {
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        Self { out, first: true }
    }

    /// Starts a member named by the library (`&'static`: never user text, so
    /// nothing to escape); the caller writes its value into the returned buffer.
    pub fn key(&mut self, key: &'static str) -> &mut String {
        debug_assert!(!key.bytes().any(needs_escape));
        self.out.push_str(if self.first { "\"" } else { ",\"" });
        self.first = false;
        self.out.push_str(key);
        self.out.push_str("\":");
        self.out
    }

    /// Starts a member whose name is user text (a metadata key, a group value):
    /// escaped as any string.
    pub fn user_key(&mut self, key: &str) -> &mut String {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(':');
        self.out
    }

    pub fn str(&mut self, key: &'static str, value: &str) -> &mut Self {
        let out = self.key(key);
        write_str(out, value);
        self
    }

    /// `null` when absent.
    pub fn opt_str(&mut self, key: &'static str, value: Option<&str>) -> &mut Self {
        match value {
            Some(value) => self.str(key, value),
            None => self.raw(key, "null"),
        }
    }

    /// Skips the member when absent (stored records keep absent fields out).
    pub fn some_str(&mut self, key: &'static str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.str(key, value);
        }
        self
    }

    pub fn int(&mut self, key: &'static str, value: i64) -> &mut Self {
        write_i64(self.key(key), value);
        self
    }

    pub fn some_int(&mut self, key: &'static str, value: Option<i64>) -> &mut Self {
        if let Some(value) = value {
            self.int(key, value);
        }
        self
    }

    pub fn bool(&mut self, key: &'static str, value: bool) -> &mut Self {
        self.raw(key, if value { "true" } else { "false" })
    }

    /// An amount (a JS number) from micros.
    pub fn micros(&mut self, key: &'static str, micros: i64) -> &mut Self {
        let out = self.key(key);
        write_micros(out, micros);
        self
    }

    /// A JS number that holds micros (results keep amounts as `micros / 1e6`).
    pub fn amount(&mut self, key: &'static str, value: f64) -> &mut Self {
        self.micros(key, crate::core::float::round(value * 1e6) as i64)
    }

    pub fn raw(&mut self, key: &'static str, json: &str) -> &mut Self {
        self.key(key).push_str(json);
        self
    }

    /// A list of values each written by `write`.
    pub fn list<T>(&mut self, key: &'static str, items: &[T], write: impl Fn(&T, &mut String)) -> &mut Self {
        let out = self.key(key);
        out.push('[');
        for (index, item) in items.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            write(item, out);
        }
        out.push(']');
        self
    }

    pub fn finish(self) {
        self.out.push('}');
    }
}

/// Values that write themselves as JSON.
pub trait ToJson {
    fn write_json(&self, out: &mut String);

    fn to_json(&self) -> String {
        let mut out = String::with_capacity(256);
        self.write_json(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_json_stringify_writes() {
        let text = r#"{"a":[1,-2.5e-3,true,null],"b":"x\"\\\n\u00e9\ud83d\ude00","a":{"c":{}}}"#;
        let value = parse(text).unwrap();
        assert_eq!(value.get("a"), Some(&Json::Object(vec![("c".into(), Json::Object(vec![]))])), "the last key wins");
        assert_eq!(value.get("b"), Some(&Json::String("x\"\\\n\u{e9}\u{1F600}".into())));
        let Json::Object(entries) = &value else { panic!() };
        assert_eq!(
            entries[0].1,
            Json::Array(vec![Json::Number("1"), Json::Number("-2.5e-3"), Json::Bool(true), Json::Null])
        );
    }

    #[test]
    fn writes_integers_as_format_does() {
        let mut values: Vec<u64> = (0..1_000).chain([9_999, 10_000, 99_999, 1_767_225_600_000, u64::MAX]).collect();
        values.extend((0..64).map(|bit| 1u64 << bit).chain((1..20).map(|exp| 10u64.pow(exp) - 1)));
        for value in values {
            for width in [0, 1, 2, 4, 6, 20] {
                let mut out = String::new();
                write_u64_padded(&mut out, value, width);
                assert_eq!(out, format!("{value:0width$}"), "{value} at width {width}");
            }
        }
        for value in [i64::MIN, -1_000_001, -1, 0, 7, i64::MAX] {
            let mut out = String::new();
            write_i64(&mut out, value);
            assert_eq!(out, value.to_string());
        }
    }

    #[test]
    fn user_member_names_are_escaped_and_read_back() {
        let mut out = String::new();
        let mut o = ObjectWriter::new(&mut out);
        write_str(o.user_key("a\u{1}\"\\\n"), "v\u{1f}");
        o.int("n", -7);
        o.finish();
        assert_eq!(out, r#"{"a\u0001\"\\\n":"v\u001f","n":-7}"#);
        let value = parse(&out).unwrap();
        assert_eq!(value.get("a\u{1}\"\\\n"), Some(&Json::String("v\u{1f}".into())));
    }

    #[test]
    fn refuses_what_is_not_json_and_what_is_too_deep() {
        for bad in ["", "{", "[1,]", "01", "1.", "-", "{\"a\" 1}", "\"\\ud800\"", "nul", "1 2", "\"\u{1}\"", "+1"] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let deep = format!("{}1{}", "[".repeat(40), "]".repeat(40));
        assert!(parse(&deep).unwrap_err().contains("deeper"));
        let ok = format!("{}1{}", "[".repeat(32), "]".repeat(32));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn reads_numbers_as_js_does() {
        for text in [
            "0",
            "1",
            "-2.5",
            "0.1",
            "123.456789",
            "9007199254740991",
            "1e21",
            "1.5E+3",
            "-0.000001",
            "1e-7",
            "0.30000000000000004",
            "1234567.891",
            "86400000",
            "1767225600000",
            "2.220446049250313e-16",
        ] {
            let ours = number_value(text).unwrap();
            let std = text.parse::<f64>().unwrap();
            assert!((ours - std).abs() <= std.abs() * 4.0 * f64::EPSILON, "{text}: {ours} vs {std}");
            if text.len() <= 16 && !text.contains(['e', 'E']) {
                assert_eq!(ours, std, "{text} is on the exact path");
            }
        }
        assert_eq!(number_value("1e999"), None);
        assert_eq!(number_value("1e-999"), Some(0.0));
    }

    #[test]
    fn splits_at_a_byte_as_split_once_does() {
        for text in ["", ".", "a.b", "a.b.c", "..", "é.x", "abc", "-1-2"] {
            for byte in [b'.', b'-'] {
                let char = char::from(byte);
                assert_eq!(split_at_byte(text, byte, false), text.split_once(char), "{text:?}");
                assert_eq!(split_at_byte(text, byte, true), text.rsplit_once(char), "{text:?}");
            }
        }
    }

    #[test]
    fn reads_integers_as_str_parse_does() {
        let edges = [
            "",
            "+",
            "-",
            "0",
            "-0",
            "+7",
            "--1",
            "+-1",
            "1a",
            " 1",
            "007",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "170141183460469231731687303715884105727",
            "170141183460469231731687303715884105728",
            "-170141183460469231731687303715884105728",
            "-170141183460469231731687303715884105729",
            "٣",
        ];
        for text in edges {
            assert_eq!(parse_int(text), text.parse::<i128>().ok(), "{text:?}");
            assert_eq!(parse_unsigned(text), text.parse::<u64>().ok(), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn u64s_are_written_as_format_pads_them(value: u64, width in 0_usize..24) {
            let mut out = String::from("x");
            write_u64_padded(&mut out, value, width);
            proptest::prop_assert_eq!(out, format!("x{value:0w$}", w = width.min(20)));
        }

        #[test]
        fn integers_match_str_parse(text in "[-+]?[0-9]{0,40}|[-+0-9a ]{0,6}") {
            proptest::prop_assert_eq!(parse_int(&text), text.parse::<i128>().ok());
            proptest::prop_assert_eq!(parse_unsigned(&text), text.parse::<u64>().ok());
            proptest::prop_assert_eq!(parse_int(&text).and_then(|v| i64::try_from(v).ok()), text.parse::<i64>().ok());
        }
    }

    #[test]
    fn writes_strings_and_micros_exactly() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\n\u{1}é");
        assert_eq!(out, r#""a\"b\\c\n\u0001é""#);
        for (micros, text) in
            [(0, "0"), (100_000, "0.1"), (-12_500_000, "-12.5"), (1, "0.000001"), (i64::MIN, "-9223372036854.775808")]
        {
            let mut out = String::new();
            write_micros(&mut out, micros);
            assert_eq!(out, text);
        }
        let mut out = String::new();
        let mut object = ObjectWriter::new(&mut out);
        object.str("id", "x").opt_str("r", None).amount("a", 0.3).bool("ok", true).int("n", -4);
        object.finish();
        assert_eq!(out, r#"{"id":"x","r":null,"a":0.3,"ok":true,"n":-4}"#);
        assert_eq!(parse(&out).unwrap().get("a"), Some(&Json::Number("0.3")));
    }
}
