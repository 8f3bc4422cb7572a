//! Reading typed values out of parsed JSON, with the full path of every field
//! in errors: inputs become `INVALID_ARGUMENT { field }`, stored records
//! `CORRUPT_STATE { key }` naming the field inside them.
//!
//! Inputs are read leniently, as Stigg's SDK is: unknown fields are ignored,
//! and `null` is the same as an absent field.

use crate::prelude::*;
use alloc::borrow::Cow;
use core::cell::Cell;

use super::error::LedgerError;
use super::json::{not_json, Json};
use super::sorted_map::SortedMap;

/// Where a value sits (`catalog.plans[0].credits[1]`), rendered only when an
/// error names it: reading a field allocates no path.
#[derive(Debug, Clone, Copy)]
pub enum At<'a> {
    Root(&'a str),
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl At<'_> {
    pub fn text(&self) -> String {
        match self {
            At::Root(name) => name.to_string(),
            At::Key(parent, key) => {
                let parent = parent.text();
                if parent.is_empty() {
                    key.to_string()
                } else {
                    format!("{parent}.{key}")
                }
            }
            At::Index(parent, index) => format!("{}[{index}]", parent.text()),
        }
    }
}

/// A field that could not be read: its full path and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub field: String,
    pub reason: String,
}

/// Boxed: the error path is a pointer, so every `?` of the many field reads
/// moves one word (a two-`String` error inline costs code at each of them).
pub type Decoded<T> = Result<T, Box<DecodeError>>;

impl DecodeError {
    pub fn new(field: &str, reason: impl Into<String>) -> Box<Self> {
        Box::new(Self { field: field.to_string(), reason: reason.into() })
    }

    pub fn at(at: &At<'_>, reason: impl Into<String>) -> Box<Self> {
        Box::new(Self { field: at.text(), reason: reason.into() })
    }

    /// As an input error (`INVALID_ARGUMENT` naming the field). Takes the box
    /// itself: errors travel boxed, and the caller has nothing else to pass.
    #[allow(clippy::boxed_local)]
    pub fn invalid(self: Box<Self>) -> Box<LedgerError> {
        let DecodeError { field, reason } = *self;
        Box::new(LedgerError::InvalidArgument { field, reason })
    }

    /// As a stored record's error (`CORRUPT_STATE` naming the key and the field).
    #[allow(clippy::boxed_local)]
    pub fn corrupt(self: Box<Self>, key: &str) -> Box<LedgerError> {
        LedgerError::corrupt(key, format!("`{}` {}", self.field, self.reason))
    }
}

impl From<Box<DecodeError>> for Box<LedgerError> {
    fn from(error: Box<DecodeError>) -> Self {
        error.invalid()
    }
}

/// Types read from a JSON value found at `at`.
pub trait FromJson: Sized {
    fn from_json(value: &Json<'_>, at: &At<'_>) -> Decoded<Self>;

    /// Parses `text` and reads it (an input: errors are `INVALID_ARGUMENT`).
    /// `path` names the value in errors ("" for a method's input).
    fn from_json_text(text: &str, path: &str) -> Result<Self, Box<LedgerError>> {
        let value = super::json::parse(text).map_err(|reason| LedgerError::invalid(path, reason))?;
        Self::from_json(&value, &At::Root(path)).map_err(|error| error.invalid())
    }
}

/// "`at` must be `expected`, got …".
pub fn wrong(at: &At<'_>, expected: &str, value: &Json<'_>) -> Box<DecodeError> {
    let got = match value {
        Json::Object(entries) => not_json(entries).unwrap_or("an object"),
        other => other.kind(),
    };
    DecodeError::at(at, format!("must be {expected}, got {got}"))
}

/// Reads a string.
pub fn string(value: &Json<'_>, at: &At<'_>) -> Decoded<String> {
    match value {
        Json::String(text) => Ok(text.to_string()),
        other => Err(wrong(at, "a string", other)),
    }
}

/// Reads a JS number (what `JSON.stringify` wrote for it).
pub fn number(value: &Json<'_>, at: &At<'_>) -> Decoded<f64> {
    match value {
        Json::Number(text) => {
            super::json::number_value(text).ok_or_else(|| DecodeError::at(at, "must be a finite number"))
        }
        other => Err(wrong(at, "a finite number", other)),
    }
}

/// Reads an exact integer (stored counters, instants, micros).
pub fn integer(value: &Json<'_>, at: &At<'_>) -> Decoded<i64> {
    match value {
        Json::Number(text) => super::json::parse_int(text)
            .and_then(|value| i64::try_from(value).ok())
            .ok_or_else(|| DecodeError::at(at, "must be an integer")),
        other => Err(wrong(at, "an integer", other)),
    }
}

pub fn unsigned(value: &Json<'_>, at: &At<'_>) -> Decoded<u64> {
    match value {
        Json::Number(text) => {
            super::json::parse_unsigned(text).ok_or_else(|| DecodeError::at(at, "must be a non-negative integer"))
        }
        other => Err(wrong(at, "a non-negative integer", other)),
    }
}

pub fn boolean(value: &Json<'_>, at: &At<'_>) -> Decoded<bool> {
    match value {
        Json::Bool(flag) => Ok(*flag),
        other => Err(wrong(at, "a boolean", other)),
    }
}

/// One of `choices` by name.
pub fn choice<T: Copy>(value: &Json<'_>, at: &At<'_>, choices: &[(&str, T)]) -> Decoded<T> {
    let names = || choices.iter().map(|(name, _)| format!("\"{name}\"")).collect::<Vec<_>>().join(", ");
    match value {
        Json::String(text) => choices
            .iter()
            .find(|(name, _)| *name == text.as_ref())
            .map(|(_, choice)| *choice)
            .ok_or_else(|| DecodeError::at(at, format!("must be one of {}, got \"{text}\"", names()))),
        other => Err(wrong(at, &format!("one of {}", names()), other)),
    }
}

/// A list whose items `read` reads (`at[i]`). `null` items are refused.
pub fn list<T>(value: &Json<'_>, at: &At<'_>, read: impl Fn(&Json<'_>, &At<'_>) -> Decoded<T>) -> Decoded<Vec<T>> {
    let mut out = Vec::new();
    each_item(value, at, &mut |item, item_at| {
        out.push(read(item, item_at)?);
        Ok(())
    })?;
    Ok(out)
}

/// `list`'s walk, compiled once: only the push of a read item is per type.
fn each_item(value: &Json<'_>, at: &At<'_>, visit: &mut dyn FnMut(&Json<'_>, &At<'_>) -> Decoded<()>) -> Decoded<()> {
    let Json::Array(items) = value else { return Err(wrong(at, "an array", value)) };
    for (index, item) in items.iter().enumerate() {
        let item_at = At::Index(at, index);
        if *item == Json::Null {
            return Err(DecodeError::at(&item_at, "arrays may not hold null, undefined or holes"));
        }
        visit(item, &item_at)?;
    }
    Ok(())
}

/// An object of string values.
pub fn string_map(value: &Json<'_>, at: &At<'_>) -> Decoded<SortedMap<String>> {
    let Json::Object(entries) = value else { return Err(wrong(at, "an object of strings", value)) };
    entries.iter().map(|(key, item)| Ok((key.to_string(), string(item, &At::Key(at, key))?))).collect()
}

/// An object's fields, read by name. A field that cannot be read records its
/// error (the first one is kept) and reads as a default value; `finish`
/// returns the error, or the value built. No read returns early, so a failed
/// decode drops what it built once, instead of at every field — the code a
/// `?` per field costs, across ~40 decoders, was most of the input layer.
pub struct Fields<'a> {
    entries: &'a [(Cow<'a, str>, Json<'a>)],
    at: At<'a>,
    error: Cell<Option<Box<DecodeError>>>,
}

impl core::fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.at.text())
    }
}

impl<'a> Fields<'a> {
    /// `value` as an object (`at` is where it sits; `At::Root("")` at the top).
    /// Not an object: no fields, and `finish` returns that error (it is the
    /// first). Infallible, so a decoder has no early return here either.
    pub fn of(value: &'a Json<'a>, at: &At<'a>) -> Self {
        let fields = Self { entries: &[], at: *at, error: Cell::new(None) };
        match value {
            Json::Object(entries) if not_json(entries).is_none() => Self { entries, ..fields },
            other => {
                let root = matches!(at, At::Root(""));
                fields.fail(wrong(if root { &At::Root("input") } else { at }, "an object", other));
                fields
            }
        }
    }

    pub fn path_of(&self, name: &str) -> String {
        At::Key(&self.at, name).text()
    }

    /// Records `error` unless an earlier one is recorded.
    pub fn fail(&self, error: Box<DecodeError>) {
        let first = self.error.take().unwrap_or(error);
        self.error.set(Some(first));
    }

    /// `value`, or the first error recorded while reading it.
    pub fn finish<T>(&self, value: T) -> Decoded<T> {
        match self.error.take() {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    fn keep<T: Default>(&self, read: Decoded<T>) -> T {
        read.unwrap_or_else(|error| {
            self.fail(error);
            T::default()
        })
    }

    /// The field's value; `null` counts as absent.
    pub fn get(&self, name: &str) -> Option<&'a Json<'a>> {
        self.entries.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value).filter(|v| **v != Json::Null)
    }

    /// `name`, or else `alias` (another spelling Stigg accepts).
    pub fn get_either<'n>(&self, name: &'n str, alias: &'n str) -> Option<(&'a Json<'a>, &'n str)> {
        match self.get(name) {
            Some(value) => Some((value, name)),
            None => self.get(alias).map(|value| (value, alias)),
        }
    }

    /// A required field read by `read`.
    pub fn req<T: Default>(&self, name: &str, read: impl Fn(&Json<'_>, &At<'_>) -> Decoded<T>) -> T {
        let read = match self.get(name) {
            Some(value) => read(value, &At::Key(&self.at, name)),
            None => Err(DecodeError::new(&self.path_of(name), "is required")),
        };
        self.keep(read)
    }

    /// An optional field read by `read`.
    pub fn opt<T>(&self, name: &str, read: impl Fn(&Json<'_>, &At<'_>) -> Decoded<T>) -> Option<T> {
        let value = self.get(name)?;
        match read(value, &At::Key(&self.at, name)) {
            Ok(read) => Some(read),
            Err(error) => {
                self.fail(error);
                None
            }
        }
    }

    pub fn string(&self, name: &str) -> String {
        self.req(name, string)
    }

    pub fn opt_string(&self, name: &str) -> Option<String> {
        self.opt(name, string)
    }

    /// A required string that may also be spelled `alias`.
    pub fn string_either(&self, name: &str, alias: &str) -> String {
        let read = match self.get_either(name, alias) {
            Some((value, spelled)) => string(value, &At::Key(&self.at, spelled)),
            None => Err(DecodeError::new(&self.path_of(name), "is required")),
        };
        self.keep(read)
    }

    pub fn opt_string_either(&self, name: &str, alias: &str) -> Option<String> {
        let (value, spelled) = self.get_either(name, alias)?;
        match string(value, &At::Key(&self.at, spelled)) {
            Ok(text) => Some(text),
            Err(error) => {
                self.fail(error);
                None
            }
        }
    }

    pub fn opt_number(&self, name: &str) -> Option<f64> {
        self.opt(name, number)
    }

    pub fn opt_bool(&self, name: &str) -> Option<bool> {
        self.opt(name, boolean)
    }

    pub fn integer(&self, name: &str) -> i64 {
        self.req(name, integer)
    }

    pub fn opt_integer(&self, name: &str) -> Option<i64> {
        self.opt(name, integer)
    }

    pub fn unsigned(&self, name: &str) -> u64 {
        self.req(name, unsigned)
    }

    /// An optional list (absent: empty).
    pub fn list_or_empty<T>(&self, name: &str, read: impl Fn(&Json<'_>, &At<'_>) -> Decoded<T>) -> Vec<T> {
        self.opt(name, |value, path| list(value, path, &read)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::json::parse;

    #[test]
    fn errors_name_the_full_path() {
        let value = parse(r#"{"a":{"b":[{"c":1},{"c":"x"}]},"n":null,"m":{"\u0000":"NaN"}}"#).unwrap();
        let top = Fields::of(&value, &At::Root(""));
        let catalog = At::Root("catalog");
        let at = At::Key(&catalog, "a");
        let a = Fields::of(top.get("a").unwrap(), &at);
        let read_c = |item: &Json<'_>, path: &At<'_>| {
            let c = Fields::of(item, path);
            let text = c.string("c");
            c.finish(text)
        };
        let _: Vec<String> = a.req("b", |v, p| list(v, p, read_c));
        assert_eq!(a.finish(()).unwrap_err(), DecodeError::new("catalog.a.b[0].c", "must be a string, got a number"));
        assert_eq!(top.opt_string("n"), None, "null is absent");
        assert_eq!(top.finish(()), Ok(()));
        let _ = top.string("n");
        let _ = top.opt_number("m");
        assert_eq!(top.finish(()).unwrap_err().reason, "is required", "the first error is kept");
        let _ = top.opt_number("m");
        assert_eq!(top.finish(()).unwrap_err().reason, "must be a finite number, got NaN");
        assert_eq!(Fields::of(&Json::Array(vec![]), &At::Root("")).finish(()).unwrap_err().field, "input");
    }
}
