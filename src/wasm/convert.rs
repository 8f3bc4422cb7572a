//! JS values ↔ core types, and core errors → JS `Error`s with a `code`.

use js_sys::{Array, Date, Object, Reflect};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use crate::core::LedgerError;

/// Deserialises a method's input. `Date` values in top-level fields become
/// epoch milliseconds first (serde has no notion of a JS `Date`); the caller's
/// object is copied, never modified. Errors name the offending field: `locate`
/// finds it (see `blame`) only once deserialising has failed, so the common
/// path pays nothing for good messages.
pub(crate) fn from_js<T: DeserializeOwned>(
    what: &str,
    input: JsValue,
    locate: fn(&JsValue, &str) -> Option<String>,
) -> Result<T, JsValue> {
    if !input.is_object() || is_array(&input)? {
        let kind =
            if is_array(&input)? { "an array".to_string() } else { input.js_typeof().as_string().unwrap_or_default() };
        return Err(to_js_error(LedgerError::invalid(what, format!("expects an object, got {kind}"))));
    }
    // Walk the value first, bounded: a cyclic or absurdly deep value, a getter
    // that throws, a revoked Proxy or an array with holes is refused here, before
    // the recursive deserialiser could overflow the wasm stack or a JS exception
    // could escape the Promise.
    let mut nodes = 0;
    let input = sanitize(&input, what, 0, &mut nodes).map_err(to_js_error)?;
    serde_wasm_bindgen::from_value(input.clone()).map_err(|error| {
        let text = message(&error);
        let field = locate(&input, &text).unwrap_or_else(|| what.to_string());
        to_js_error(LedgerError::invalid(&field, text))
    })
}

/// Deserialises an array option (`usageLowThresholds`).
pub(crate) fn from_js_list<T: DeserializeOwned>(what: &str, input: JsValue) -> Result<Vec<T>, JsValue> {
    if !is_array(&input)? {
        return Err(to_js_error(LedgerError::invalid(what, "must be an array")));
    }
    let mut nodes = 0;
    let input = sanitize(&input, what, 0, &mut nodes).map_err(to_js_error)?;
    serde_wasm_bindgen::from_value(input).map_err(|error| to_js_error(LedgerError::invalid(what, message(&error))))
}

/// serde-wasm-bindgen wraps its message in a JS Error; keep the text only.
fn message(error: &serde_wasm_bindgen::Error) -> String {
    let text = error.to_string();
    text.strip_prefix("Error: ").unwrap_or(&text).to_string()
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = Array, js_name = isArray)]
    fn array_check(value: &JsValue) -> Result<bool, JsValue>;
}

/// `Array.isArray`, with a throw (a revoked Proxy) reported as bad input.
fn is_array(value: &JsValue) -> Result<bool, JsValue> {
    array_check(value).map_err(|_| to_js_error(LedgerError::invalid("input", "could not be read (a revoked Proxy?)")))
}

/// Nesting and size bounds of any input value (the deepest real input, a
/// catalog's `plans[i].creditRates[j].amount`, is 5 levels).
const INPUT_DEPTH_MAX: u32 = 16;
const INPUT_NODES_MAX: u32 = 100_000;

/// A plain copy of `value` made of what reading it once returned: objects and
/// arrays rebuilt, `Date`s as epoch milliseconds. Bounded in depth and size, so
/// a cyclic or absurdly deep value, a getter that throws, a Proxy or an array
/// with holes is refused here, and the deserialiser only ever sees plain data
/// (it cannot overflow the wasm stack, and no JS exception escapes it).
fn sanitize(value: &JsValue, path: &str, depth: u32, nodes: &mut u32) -> Result<JsValue, LedgerError> {
    *nodes += 1;
    if *nodes > INPUT_NODES_MAX {
        return Err(LedgerError::invalid(path, format!("is too large (more than {INPUT_NODES_MAX} values)")));
    }
    if !value.is_object() || value.is_function() {
        return Ok(value.clone());
    }
    if depth >= INPUT_DEPTH_MAX {
        return Err(LedgerError::invalid(
            path,
            format!("nests deeper than {INPUT_DEPTH_MAX} levels (or refers to itself)"),
        ));
    }
    let unreadable = |_| LedgerError::invalid(path, "could not be read (a getter or Proxy threw)");
    // `Array.isArray` throws on a revoked Proxy: ask through a catching import.
    if array_check(value).map_err(unreadable)? {
        let array: &Array = value.unchecked_ref();
        let copy = Array::new();
        for index in 0..array.length() {
            let element = Reflect::get_u32(array, index).map_err(unreadable)?;
            let element_path = format!("{path}[{index}]");
            if element.is_null() || element.is_undefined() {
                return Err(LedgerError::invalid(&element_path, "arrays may not hold null, undefined or holes"));
            }
            copy.push(&sanitize(&element, &element_path, depth + 1, nodes)?);
        }
        return Ok(copy.into());
    }
    if let Some(date) = value.dyn_ref::<Date>() {
        return Ok(JsValue::from_f64(date.get_time()));
    }
    let object: &Object = value.unchecked_ref();
    let copy = Object::new();
    let keys = Reflect::own_keys(object).map_err(unreadable)?;
    for key in keys.iter() {
        let Some(name) = key.as_string() else { continue };
        let field = Reflect::get(object, &key).map_err(unreadable)?;
        let field = sanitize(&field, &format!("{path}.{name}"), depth + 1, nodes)?;
        Reflect::set(&copy, &key, &field).map_err(unreadable)?;
    }
    Ok(copy.into())
}

/// The name in a "missing field `x`" message.
pub(crate) fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// The top-level field a method input's error is about: the missing field, or
/// the key whose value `T` rejects.
pub(crate) fn locate_field<T: DeserializeOwned>(input: &JsValue, message: &str) -> Option<String> {
    match missing_field(message) {
        Some(name) => Some(name.to_string()),
        None => blame::<T>(input),
    }
}

/// The top-level key of `object` that makes `T` fail to deserialise.
///
/// serde stops at the first bad value it meets and reports missing fields
/// last. So a key whose value is wrong fails even when it is the only key
/// present (with an error other than "missing field"); and a key hiding a
/// missing field deeper down is the one whose removal makes the error go away
/// (or become something other than "`key` is missing").
pub(crate) fn blame<T: DeserializeOwned>(object: &JsValue) -> Option<String> {
    let object = object.dyn_ref::<Object>()?;
    let original = message(&serde_wasm_bindgen::from_value::<T>(object.into()).err()?);
    let keys = Object::keys(object);
    for key in keys.iter() {
        let alone = Object::new();
        Reflect::set(&alone, &key, &Reflect::get(object, &key).ok()?).ok()?;
        if let Err(error) = serde_wasm_bindgen::from_value::<T>(alone.into()) {
            if missing_field(&message(&error)).is_none() {
                return key.as_string();
            }
        }
    }
    for key in keys.iter() {
        let name = key.as_string()?;
        let without = Object::assign(&Object::new(), object);
        Reflect::delete_property(&without, &key).ok()?;
        let implicated = match serde_wasm_bindgen::from_value::<T>(without.into()) {
            Ok(_) => true,
            Err(error) => {
                let text = message(&error);
                text != original && missing_field(&text) != Some(name.as_str())
            }
        };
        if implicated {
            return Some(name);
        }
    }
    None
}

/// `path[i].key` of the first element of the array `list` that `T` rejects.
pub(crate) fn blame_in_list<T: DeserializeOwned>(
    path: &str,
    list: &JsValue,
    nested: fn(&str, &str, &JsValue) -> String,
) -> String {
    let Some(array) = list.dyn_ref::<Array>() else { return path.to_string() };
    for (index, element) in array.iter().enumerate() {
        let element_path = format!("{path}[{index}]");
        let Err(error) = serde_wasm_bindgen::from_value::<T>(element.clone()) else { continue };
        if let Some(key) = blame::<T>(&element) {
            let value = Reflect::get(&element, &JsValue::from_str(&key)).unwrap_or(JsValue::UNDEFINED);
            return nested(&element_path, &key, &value);
        }
        return match missing_field(&message(&error)) {
            Some(name) => format!("{element_path}.{name}"),
            None => element_path,
        };
    }
    path.to_string()
}

/// Serialises a result as plain JSON-compatible objects (`null`, not `undefined`; objects, not `Map`s).
pub(crate) fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    value.serialize(&serializer).map_err(|error| to_js_error(LedgerError::invalid("result", error.to_string())))
}

/// A core error as `Error { name: "CreditPoolsError", code, message }`.
pub(crate) fn to_js_error(error: LedgerError) -> JsValue {
    let js_error = js_sys::Error::new(&error.to_string());
    js_error.set_name("CreditPoolsError");
    let _ = Reflect::set(&js_error, &JsValue::from_str("code"), &JsValue::from_str(error.code()));
    if let LedgerError::InvalidArgument { field, .. } = &error {
        let _ = Reflect::set(&js_error, &JsValue::from_str("field"), &JsValue::from_str(field));
    }
    js_error.into()
}
