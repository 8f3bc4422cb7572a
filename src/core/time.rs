//! Time as integer milliseconds since the Unix epoch (UTC), passed in by the host.
//!
//! The core never reads a clock. Dates cross the JS boundary as epoch
//! milliseconds or ISO-8601 strings and leave it as ISO-8601 strings.

use super::decode::{self, At, Decoded};
use super::error::{LedgerError, LedgerResult};
use super::json::Json;
use super::limits::TIME_MS_MAX;
use crate::prelude::*;

pub type UnixMs = i64;

const MS_PER_DAY: i64 = 86_400_000;

/// A date as the caller wrote it: epoch ms (a JS `Date` is converted to this by
/// the binding) or an ISO-8601 string.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeInput {
    EpochMs(f64),
    Iso(String),
}

/// What a field that failed to read holds while its error is reported.
impl Default for TimeInput {
    fn default() -> Self {
        TimeInput::EpochMs(0.0)
    }
}

impl decode::FromJson for TimeInput {
    fn from_json(value: &Json<'_>, path: &At<'_>) -> Decoded<Self> {
        match value {
            Json::Number(_) => decode::number(value, path).map(TimeInput::EpochMs),
            Json::String(text) => Ok(TimeInput::Iso(text.to_string())),
            other => Err(decode::wrong(path, "a Date, epoch milliseconds or an ISO-8601 string", other)),
        }
    }
}

impl TimeInput {
    pub fn to_ms(&self, field: &str) -> LedgerResult<UnixMs> {
        let ms = match self {
            TimeInput::EpochMs(value) => {
                if !crate::core::float::is_whole(*value) {
                    return Err(LedgerError::invalid(
                        field,
                        format!(
                            "must be a whole number of epoch milliseconds, got {}",
                            super::amount::describe_number(*value)
                        ),
                    ));
                }
                *value as i64
            }
            TimeInput::Iso(text) => parse_iso(text)
                .ok_or_else(|| LedgerError::invalid(field, format!("is not an ISO-8601 date-time: \"{text}\"")))?,
        };
        check_ms(field, ms)
    }
}

/// Accepts instants from 1970 up to the end of year 9999.
pub fn check_ms(field: &str, ms: i64) -> LedgerResult<UnixMs> {
    if !(0..=TIME_MS_MAX).contains(&ms) {
        return Err(LedgerError::invalid(field, format!("must be between 1970-01-01 and 9999-12-31, got {ms} ms")));
    }
    Ok(ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of `days_from_civil`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `2026-01-31T00:00:00.000Z`: always UTC, always milliseconds.
pub fn format_iso(ms: UnixMs) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let (hours, minutes) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (seconds, millis) = (in_day / 1000 % 60, in_day % 1000);
    let mut out = String::with_capacity(24);
    let fields =
        [(year, 4, '-'), (i64::from(month), 2, '-'), (i64::from(day), 2, 'T'), (hours, 2, ':'), (minutes, 2, ':')];
    for (value, width, separator) in fields {
        push_padded(&mut out, value, width);
        out.push(separator);
    }
    push_padded(&mut out, seconds, 2);
    out.push('.');
    push_padded(&mut out, millis, 3);
    out.push('Z');
    out
}

/// `value` (not negative) in decimal, zero-padded to `width` digits.
fn push_padded(out: &mut String, value: i64, width: usize) {
    debug_assert!(value >= 0);
    super::json::write_u64_padded(out, value.unsigned_abs(), width);
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS[.fff]](Z|±HH:MM)`.
pub fn parse_iso(text: &str) -> Option<UnixMs> {
    let bytes = text.as_bytes();
    let number = |from: usize, len: usize| -> Option<i64> {
        let slice = bytes.get(from..from + len)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(slice.iter().fold(0, |number, digit| number * 10 + i64::from(digit - b'0')))
    };
    let year = number(0, 4)?;
    if bytes.get(4) != Some(&b'-') || bytes.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (number(5, 2)? as u32, number(8, 2)? as u32);
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let date_ms = days_from_civil(year, month, day) * MS_PER_DAY;
    if bytes.len() == 10 {
        return Some(date_ms);
    }
    if !matches!(bytes.get(10), Some(b'T') | Some(b't') | Some(b' ')) || bytes.get(13) != Some(&b':') {
        return None;
    }
    let (hours, minutes) = (number(11, 2)?, number(14, 2)?);
    let mut index = 16;
    let mut seconds = 0;
    let mut millis = 0;
    if bytes.get(index) == Some(&b':') {
        seconds = number(index + 1, 2)?;
        index += 3;
        if bytes.get(index) == Some(&b'.') {
            let digits = bytes[index + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 0 || digits > 9 {
                return None;
            }
            let kept = digits.min(3);
            millis = number(index + 1, kept)? * 10_i64.pow(3 - kept as u32);
            index += 1 + digits;
        }
    }
    if hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let offset_ms = match bytes.get(index..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), ..] if bytes.len() == index + 6 && bytes[index + 3] == b':' => {
            let offset = (number(index + 1, 2)? * 60 + number(index + 4, 2)?) * 60_000;
            if *sign == b'+' {
                offset
            } else {
                -offset
            }
        }
        _ => return None,
    };
    Some(date_ms + ((hours * 60 + minutes) * 60 + seconds) * 1000 + millis - offset_ms)
}

/// `start` moved by `months` calendar months, the day clamped to the target
/// month's last day (Jan 31 + 1 month = Feb 28/29), time of day kept.
pub fn add_months(start: UnixMs, months: i64) -> UnixMs {
    let days = start.div_euclid(MS_PER_DAY);
    let in_day = start.rem_euclid(MS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let month_index = year * 12 + i64::from(month) - 1 + months;
    let (target_year, target_month) = (month_index.div_euclid(12), (month_index.rem_euclid(12) + 1) as u32);
    let target_day = day.min(days_in_month(target_year, target_month));
    days_from_civil(target_year, target_month, target_day) * MS_PER_DAY + in_day
}

/// The first instant of the UTC calendar month containing `ms`.
pub fn month_start(ms: UnixMs) -> UnixMs {
    let (year, month, _) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    days_from_civil(year, month, 1) * MS_PER_DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trips() {
        for ms in [0, 1, 951_782_400_000, 1_767_225_600_000, 1_798_761_599_999, TIME_MS_MAX] {
            assert_eq!(parse_iso(&format_iso(ms)), Some(ms), "{}", format_iso(ms));
        }
        assert_eq!(format_iso(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_iso(TIME_MS_MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn iso_parses_offsets_dates_and_rejects_junk() {
        assert_eq!(parse_iso("2026-01-31"), parse_iso("2026-01-31T00:00:00Z"));
        assert_eq!(parse_iso("2026-01-31T02:00:00+02:00"), parse_iso("2026-01-31T00:00Z"));
        assert_eq!(parse_iso("2026-01-31T00:00:00.5Z"), Some(parse_iso("2026-01-31").unwrap() + 500));
        for junk in ["", "2026", "2026-02-30", "2026-13-01", "2026-01-01T25:00Z", "2026-01-01T00:00:00", "2026-01-01Tx"]
        {
            assert_eq!(parse_iso(junk), None, "{junk}");
        }
    }

    #[test]
    fn months_clamp_to_the_end_of_the_month() {
        let jan31 = parse_iso("2028-01-31T10:00:00Z").unwrap();
        assert_eq!(format_iso(add_months(jan31, 1)), "2028-02-29T10:00:00.000Z");
        assert_eq!(format_iso(add_months(jan31, 2)), "2028-03-31T10:00:00.000Z");
        assert_eq!(format_iso(add_months(jan31, 13)), "2029-02-28T10:00:00.000Z");
        assert_eq!(format_iso(add_months(jan31, 12)), "2029-01-31T10:00:00.000Z");
    }
}
