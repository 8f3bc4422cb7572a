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
    if !input.is_object() || Array::is_array(&input) {
        let kind = if Array::is_array(&input) {
            "an array".to_string()
        } else {
            input.js_typeof().as_string().unwrap_or_default()
        };
        return Err(to_js_error(LedgerError::invalid(what, format!("expects an object, got {kind}"))));
    }
    let input = dates_to_epoch_ms(input);
    serde_wasm_bindgen::from_value(input.clone()).map_err(|error| {
        let text = message(&error);
        let field = locate(&input, &text).unwrap_or_else(|| what.to_string());
        to_js_error(LedgerError::invalid(&field, text))
    })
}

/// Deserialises an array option (`usageLowThresholds`).
pub(crate) fn from_js_list<T: DeserializeOwned>(what: &str, input: JsValue) -> Result<Vec<T>, JsValue> {
    if !Array::is_array(&input) {
        return Err(to_js_error(LedgerError::invalid(what, "must be an array")));
    }
    serde_wasm_bindgen::from_value(input).map_err(|error| to_js_error(LedgerError::invalid(what, message(&error))))
}

/// serde-wasm-bindgen wraps its message in a JS Error; keep the text only.
fn message(error: &serde_wasm_bindgen::Error) -> String {
    let text = error.to_string();
    text.strip_prefix("Error: ").unwrap_or(&text).to_string()
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

fn dates_to_epoch_ms(input: JsValue) -> JsValue {
    let Some(object) = input.dyn_ref::<Object>() else { return input };
    if Array::is_array(object) || input.is_function() {
        return input;
    }
    let keys = Object::keys(object);
    let has_date =
        keys.iter().any(|key| Reflect::get(object, &key).map(|v| v.is_instance_of::<Date>()).unwrap_or(false));
    if !has_date {
        return input;
    }
    let copy = Object::assign(&Object::new(), object);
    for key in keys.iter() {
        if let Ok(value) = Reflect::get(&copy, &key) {
            if let Some(date) = value.dyn_ref::<Date>() {
                let _ = Reflect::set(&copy, &key, &JsValue::from_f64(date.get_time()));
            }
        }
    }
    copy.into()
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
