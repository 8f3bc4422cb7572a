//! JS values ↔ JSON text, and core errors → JS `Error`s with a `code`.
//!
//! Inputs cross as JSON text: `JSON.stringify` (native, fast) writes it, the
//! core's reader (`core::json`) reads it. Only when that text holds a `null`
//! (which may stand for NaN, ±Infinity or an invalid Date, none of which JSON
//! can say) is the value walked here instead, so those reach the core as
//! markers it refuses by name. Results cross back as JSON text for `JSON.parse`.

use crate::prelude::*;
use js_sys::{Array, Date, Object, Reflect, JSON};
use wasm_bindgen::{JsCast, JsValue};

use crate::core::json::{write_str, NOT_JSON_MARKER};
use crate::core::{LedgerError, LedgerResult};

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn array_check(value: &JsValue) -> Result<bool, JsValue>;
}

/// The epoch ms of a `Date` (`NaN` for an invalid one), or `None` when reading
/// it throws or answers something else. A JS exception must never unwind
/// through wasm: it runs no destructors, so a scope lock would stay held.
pub(crate) fn date_ms(date: &JsValue) -> Option<f64> {
    // Looked up and called through catching bindings: a Proxy of a Date or a
    // subclass may throw from either, or answer a non-number.
    let get_time = Reflect::get(date, &JsValue::from_str("getTime")).ok()?.dyn_into::<js_sys::Function>().ok()?;
    get_time.call0(date).ok()?.as_f64()
}

/// Nesting and size bounds of an input walked here (the deepest real input, a
/// catalog's `plans[i].creditRates[j].amount`, is 5 levels).
const INPUT_DEPTH_MAX: u32 = 16;
const INPUT_NODES_MAX: u32 = 100_000;

/// An argument as JSON text. `what` names it in errors (the method, or an option).
pub(crate) fn input_text(what: &str, input: &JsValue) -> LedgerResult<String> {
    let unreadable = |_| LedgerError::invalid(what, "could not be read (a revoked Proxy?)");
    if !input.is_object() || array_check(input).map_err(unreadable)? {
        let kind = if input.is_object() { "an array".to_string() } else { kind_of(input) };
        return Err(LedgerError::invalid(what, format!("expects an object, got {kind}")));
    }
    // JSON.stringify throws on cycles, BigInts and throwing getters.
    let text = JSON::stringify(input).map_err(|error| {
        LedgerError::invalid(what, format!("could not be read as JSON: {}", super::host::describe(&error)))
    })?;
    // JSON.stringify answers `undefined` (not a string) when a `toJSON` does.
    let text = JsValue::from(text)
        .as_string()
        .ok_or_else(|| LedgerError::invalid(what, "could not be read as JSON (its toJSON returned no value)"))?;
    if !text.as_bytes().windows(4).any(|window| window == b"null") {
        return Ok(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut nodes = 0;
    write_value(&mut out, input, what, 0, &mut nodes)?;
    Ok(out)
}

/// An array option (`usageLowThresholds`) as JSON text.
pub(crate) fn list_text(what: &str, input: &JsValue) -> LedgerResult<String> {
    let unreadable = |_| LedgerError::invalid(what, "could not be read (a revoked Proxy?)");
    if !array_check(input).map_err(unreadable)? {
        return Err(LedgerError::invalid(what, "must be an array"));
    }
    let mut out = String::new();
    let mut nodes = 0;
    write_value(&mut out, input, what, 0, &mut nodes)?;
    Ok(out)
}

fn kind_of(value: &JsValue) -> String {
    if value.is_null() {
        return "null".to_string();
    }
    value.js_typeof().as_string().unwrap_or_default()
}

fn marker(out: &mut String, what: &str) {
    out.push('{');
    write_str(out, NOT_JSON_MARKER);
    out.push(':');
    write_str(out, what);
    out.push('}');
}

fn write_number(out: &mut String, number: f64) {
    if number.is_nan() {
        marker(out, "NaN");
    } else if number.is_infinite() {
        marker(out, if number > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        // What JSON.stringify writes for the number: its shortest round-trip form.
        let text = JSON::stringify(&JsValue::from_f64(number)).ok().and_then(|t| JsValue::from(t).as_string());
        let text = text.unwrap_or_default();
        out.push_str(&text);
    }
}

/// Writes `value` as JSON, bounded in depth and size, every read caught: a
/// cyclic or absurdly deep value, a getter that throws or a revoked Proxy is
/// an `INVALID_ARGUMENT`, never a stack overflow or an escaping exception.
/// `undefined`, functions and symbols in objects are left out (as JSON does);
/// in arrays they are written as `null`, which the core refuses.
fn write_value(out: &mut String, value: &JsValue, path: &str, depth: u32, nodes: &mut u32) -> LedgerResult<()> {
    *nodes += 1;
    if *nodes > INPUT_NODES_MAX {
        return Err(LedgerError::invalid(path, format!("is too large (more than {INPUT_NODES_MAX} values)")));
    }
    if let Some(number) = value.as_f64() {
        write_number(out, number);
        return Ok(());
    }
    if let Some(text) = value.as_string() {
        write_str(out, &text);
        return Ok(());
    }
    if let Some(flag) = value.as_bool() {
        out.push_str(if flag { "true" } else { "false" });
        return Ok(());
    }
    if !value.is_object() || value.is_function() {
        if value.is_bigint() {
            return Err(LedgerError::invalid(path, "must not be a BigInt (use a number or a decimal string)"));
        }
        out.push_str("null");
        return Ok(());
    }
    if depth >= INPUT_DEPTH_MAX {
        return Err(LedgerError::invalid(
            path,
            format!("nests deeper than {INPUT_DEPTH_MAX} levels (or refers to itself)"),
        ));
    }
    let unreadable = |_| LedgerError::invalid(path, "could not be read (a getter or Proxy threw)");
    if value.is_instance_of::<Date>() {
        let ms = date_ms(value).ok_or_else(|| LedgerError::invalid(path, "is a Date that could not be read"))?;
        if ms.is_nan() {
            marker(out, "Invalid Date");
        } else {
            write_number(out, ms);
        }
        return Ok(());
    }
    if array_check(value).map_err(unreadable)? {
        let array: &Array = value.unchecked_ref();
        out.push('[');
        for index in 0..array.length() {
            if index > 0 {
                out.push(',');
            }
            let element = Reflect::get_u32(array, index).map_err(unreadable)?;
            write_value(out, &element, &format!("{path}[{index}]"), depth + 1, nodes)?;
        }
        out.push(']');
        return Ok(());
    }
    let object: &Object = value.unchecked_ref();
    let keys = Reflect::own_keys(object).map_err(unreadable)?;
    out.push('{');
    let mut first = true;
    for key in keys.iter() {
        let Some(name) = key.as_string() else { continue };
        let field = Reflect::get(object, &key).map_err(unreadable)?;
        if field.is_undefined() || field.is_function() || field.is_symbol() {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        write_str(out, &name);
        out.push(':');
        write_value(out, &field, &format!("{path}.{name}"), depth + 1, nodes)?;
    }
    out.push('}');
    Ok(())
}

/// A result's JSON text as a plain JS value.
pub(crate) fn output_value(text: &str) -> Result<JsValue, JsValue> {
    JSON::parse(text)
}

/// A core error as `Error { name: "CreditPoolsError", code, message }`.
pub(crate) fn to_js_error(error: Box<LedgerError>) -> JsValue {
    let js_error = js_sys::Error::new(&error.to_string());
    js_error.set_name("CreditPoolsError");
    let _ = Reflect::set(&js_error, &JsValue::from_str("code"), &JsValue::from_str(error.code()));
    if let LedgerError::InvalidArgument { field, .. } = &*error {
        let _ = Reflect::set(&js_error, &JsValue::from_str("field"), &JsValue::from_str(field));
    }
    js_error.into()
}
