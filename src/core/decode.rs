//! Reading typed values out of parsed JSON, with the full path of every field
//! in errors: inputs become `INVALID_ARGUMENT { field }`, stored records
//! `CORRUPT_STATE { key }` naming the field inside them.
//!
//! Inputs are read leniently, as Stigg's SDK is: unknown fields are ignored,
//! and `null` is the same as an absent field.

use std::cell::Cell;

use super::error::LedgerError;
use super::json::{not_json, Json};
use super::sorted_map::SortedMap;

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

/// Types read from a JSON value found at `path`.
pub trait FromJson: Sized {
    fn from_json(value: &Json, path: &str) -> Decoded<Self>;

    /// Parses `text` and reads it (an input: errors are `INVALID_ARGUMENT`).
    fn from_json_text(text: &str, path: &str) -> Result<Self, Box<LedgerError>> {
        let value = super::json::parse(text).map_err(|reason| LedgerError::invalid(path, reason))?;
        Self::from_json(&value, path).map_err(|error| error.invalid())
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// "`path` must be `expected`, got …".
pub fn wrong(path: &str, expected: &str, value: &Json) -> Box<DecodeError> {
    match value {
        Json::Object(entries) => match not_json(entries) {
            Some(what) => DecodeError::new(path, format!("must be {expected}, got {what}")),
            None => DecodeError::new(path, format!("must be {expected}, got an object")),
        },
        other => DecodeError::new(path, format!("must be {expected}, got {}", other.kind())),
    }
}

/// Reads a string.
pub fn string(value: &Json, path: &str) -> Decoded<String> {
    match value {
        Json::String(text) => Ok(text.clone()),
        other => Err(wrong(path, "a string", other)),
    }
}

/// Reads a JS number (what `JSON.stringify` wrote for it).
pub fn number(value: &Json, path: &str) -> Decoded<f64> {
    match value {
        Json::Number(text) => {
            super::json::number_value(text).ok_or_else(|| DecodeError::new(path, "must be a finite number"))
        }
        other => Err(wrong(path, "a finite number", other)),
    }
}

/// Reads an exact integer (stored counters, instants, micros).
pub fn integer(value: &Json, path: &str) -> Decoded<i64> {
    match value {
        Json::Number(text) => text.parse::<i64>().map_err(|_| DecodeError::new(path, "must be an integer")),
        other => Err(wrong(path, "an integer", other)),
    }
}

pub fn unsigned(value: &Json, path: &str) -> Decoded<u64> {
    match value {
        Json::Number(text) => text.parse::<u64>().map_err(|_| DecodeError::new(path, "must be a non-negative integer")),
        other => Err(wrong(path, "a non-negative integer", other)),
    }
}

pub fn boolean(value: &Json, path: &str) -> Decoded<bool> {
    match value {
        Json::Bool(flag) => Ok(*flag),
        other => Err(wrong(path, "a boolean", other)),
    }
}

/// One of `choices` by name.
pub fn choice<T: Copy>(value: &Json, path: &str, choices: &[(&str, T)]) -> Decoded<T> {
    let names = || choices.iter().map(|(name, _)| format!("\"{name}\"")).collect::<Vec<_>>().join(", ");
    match value {
        Json::String(text) => choices
            .iter()
            .find(|(name, _)| name == text)
            .map(|(_, choice)| *choice)
            .ok_or_else(|| DecodeError::new(path, format!("must be one of {}, got \"{text}\"", names()))),
        other => Err(wrong(path, &format!("one of {}", names()), other)),
    }
}

/// A list whose items `read` reads (`path[i]`). `null` items are refused.
pub fn list<T>(value: &Json, path: &str, read: impl Fn(&Json, &str) -> Decoded<T>) -> Decoded<Vec<T>> {
    let Json::Array(items) = value else { return Err(wrong(path, "an array", value)) };
    let mut out = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        if *item == Json::Null {
            return Err(DecodeError::new(&item_path, "arrays may not hold null, undefined or holes"));
        }
        out.push(read(item, &item_path)?);
    }
    Ok(out)
}

/// An object of string values.
pub fn string_map(value: &Json, path: &str) -> Decoded<SortedMap<String>> {
    let Json::Object(entries) = value else { return Err(wrong(path, "an object of strings", value)) };
    entries.iter().map(|(key, item)| Ok((key.clone(), string(item, &join(path, key))?))).collect()
}

/// An object's fields, read by name. A field that cannot be read records its
/// error (the first one is kept) and reads as a default value; `finish`
/// returns the error, or the value built. No read returns early, so a failed
/// decode drops what it built once, instead of at every field — the code a
/// `?` per field costs, across ~40 decoders, was most of the input layer.
pub struct Fields<'a> {
    entries: &'a [(String, Json)],
    path: &'a str,
    error: Cell<Option<Box<DecodeError>>>,
}

impl std::fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.path)
    }
}

impl<'a> Fields<'a> {
    /// `value` as an object (`path` is where it sits, "" at the top).
    pub fn of(value: &'a Json, path: &'a str) -> Decoded<Self> {
        match value {
            Json::Object(entries) if not_json(entries).is_none() => Ok(Self { entries, path, error: Cell::new(None) }),
            other => Err(wrong(if path.is_empty() { "input" } else { path }, "an object", other)),
        }
    }

    pub fn path_of(&self, name: &str) -> String {
        join(self.path, name)
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
    pub fn get(&self, name: &str) -> Option<&'a Json> {
        self.entries.iter().rev().find(|(key, _)| key == name).map(|(_, value)| value).filter(|v| **v != Json::Null)
    }

    /// `name`, or else `alias` (another spelling Stigg accepts).
    pub fn get_either(&self, name: &str, alias: &str) -> Option<(&'a Json, String)> {
        match self.get(name) {
            Some(value) => Some((value, self.path_of(name))),
            None => self.get(alias).map(|value| (value, self.path_of(alias))),
        }
    }

    /// A required field read by `read`.
    pub fn req<T: Default>(&self, name: &str, read: impl Fn(&Json, &str) -> Decoded<T>) -> T {
        let read = match self.get(name) {
            Some(value) => read(value, &self.path_of(name)),
            None => Err(DecodeError::new(&self.path_of(name), "is required")),
        };
        self.keep(read)
    }

    /// An optional field read by `read`.
    pub fn opt<T>(&self, name: &str, read: impl Fn(&Json, &str) -> Decoded<T>) -> Option<T> {
        let value = self.get(name)?;
        match read(value, &self.path_of(name)) {
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
            Some((value, path)) => string(value, &path),
            None => Err(DecodeError::new(&self.path_of(name), "is required")),
        };
        self.keep(read)
    }

    pub fn opt_string_either(&self, name: &str, alias: &str) -> Option<String> {
        let (value, path) = self.get_either(name, alias)?;
        match string(value, &path) {
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
    pub fn list_or_empty<T>(&self, name: &str, read: impl Fn(&Json, &str) -> Decoded<T>) -> Vec<T> {
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
        let top = Fields::of(&value, "").unwrap();
        let a = Fields::of(top.get("a").unwrap(), "catalog.a").unwrap();
        let read_c = |item: &Json, path: &str| {
            let c = Fields::of(item, path)?;
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
        assert_eq!(Fields::of(&Json::Array(vec![]), "").unwrap_err().field, "input");
    }
}
