//! JS values ↔ core types, and core errors → JS `Error`s with a `code`.

use js_sys::{Array, Date, Object, Reflect};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

use crate::core::LedgerError;

/// Deserialises a method's input. `Date` values in top-level fields become
/// epoch milliseconds first (serde has no notion of a JS `Date`); the caller's
/// object is copied, never modified. Errors name the field by its path, under
/// `field_prefix` when one is given (`catalog.plans[0].id`).
pub(crate) fn from_js<T: DeserializeOwned>(
    what: &str,
    field_prefix: Option<&str>,
    input: JsValue,
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
    serde_path_to_error::deserialize(serde_wasm_bindgen::Deserializer::from(input)).map_err(|error| {
        let mut path = error.path().to_string();
        // serde-wasm-bindgen wraps its message in a JS Error; keep the text only.
        let text = error.into_inner().to_string();
        let text = text.strip_prefix("Error: ").unwrap_or(&text).to_string();
        // A missing field is reported at its parent's path; name the field itself.
        if let Some(name) = text.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
            path = if path == "." || path.is_empty() { name.to_string() } else { format!("{path}.{name}") };
        }
        let field = match (field_prefix, path.as_str()) {
            (None, "." | "") => what.to_string(),
            (Some(prefix), "." | "") => prefix.to_string(),
            (None, path) => path.to_string(),
            (Some(prefix), path) => format!("{prefix}.{path}"),
        };
        to_js_error(LedgerError::invalid(&field, text))
    })
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
