//! The host's `kv` object and clock, seen through the core's traits.

use crate::prelude::*;
use core::cell::RefCell;

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::core::store::{Environment, GetFailure, Store, StoreCapabilities};
use crate::core::time::UnixMs;

/// `{ get(key), put(key, value), putIfVersion?(key, value, expectedVersion),
/// putMany?(entries) }`, each returning a value or a Promise.
#[derive(Debug)]
pub(crate) struct JsStore {
    kv: JsValue,
    get: Function,
    put: Function,
    put_if_version: Option<Function>,
    put_many: Option<Function>,
}

impl JsStore {
    /// Checks the shape of `kv` once, so a bad store fails at construction.
    pub(crate) fn new(kv: JsValue) -> Result<Self, String> {
        if !kv.is_object() {
            return Err("`kv` must be an object with get(key) and put(key, value) methods".to_string());
        }
        let method = |name: &str| -> Result<Function, String> {
            Reflect::get(&kv, &JsValue::from_str(name))
                .ok()
                .and_then(|value| value.dyn_into::<Function>().ok())
                .ok_or_else(|| format!("`kv.{name}` must be a function"))
        };
        let optional = |name: &str| -> Result<Option<Function>, String> {
            let value = Reflect::get(&kv, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
            if value.is_undefined() || value.is_null() {
                return Ok(None);
            }
            value.dyn_into::<Function>().map(Some).map_err(|_| format!("`kv.{name}` must be a function when given"))
        };
        Ok(Self {
            get: method("get")?,
            put: method("put")?,
            put_if_version: optional("putIfVersion")?,
            put_many: optional("putMany")?,
            kv,
        })
    }
}

/// Awaits `value` if it is a thenable; plain values pass through without a
/// microtask, so a synchronous store costs no extra turn of the event loop.
async fn settle(value: JsValue) -> Result<JsValue, JsValue> {
    let is_thenable = value.is_object()
        && Reflect::get(&value, &JsValue::from_str("then")).map(|then| then.is_function()).unwrap_or(false);
    if !is_thenable {
        return Ok(value);
    }
    JsFuture::from(Promise::resolve(&value)).await
}

/// A thrown or rejected JS value as text for an error message.
pub(crate) fn describe(error: &JsValue) -> String {
    // `message` is read with Reflect (a getter may throw, or return a non-string):
    // a JS exception must never unwind through wasm, which runs no destructors
    // and would leave the operation's scope lock held.
    if error.is_instance_of::<js_sys::Error>() {
        if let Some(message) = Reflect::get(error, &JsValue::from_str("message")).ok().and_then(|m| m.as_string()) {
            return message;
        }
    }
    if let Some(text) = error.as_string() {
        return text;
    }
    js_sys::JSON::stringify(error)
        .ok()
        .and_then(|text| text.as_string())
        .unwrap_or_else(|| "a value that is not an Error".into())
}

impl Store for JsStore {
    async fn get(&self, key: &str) -> Result<Option<String>, GetFailure> {
        let returned = self.get.call1(&self.kv, &JsValue::from_str(key)).map_err(|e| describe(&e))?;
        let value = settle(returned).await.map_err(|e| describe(&e))?;
        if value.is_null() || value.is_undefined() {
            return Ok(None);
        }
        value.as_string().map(Some).ok_or_else(|| {
            let kind = value.js_typeof().as_string().unwrap_or_default();
            GetFailure::NotText(format!("kv.get returned a {kind}, expected a string, null or undefined"))
        })
    }

    async fn put(&self, key: &str, value: String) -> Result<(), String> {
        let returned =
            self.put.call2(&self.kv, &JsValue::from_str(key), &JsValue::from_str(&value)).map_err(|e| describe(&e))?;
        settle(returned).await.map(|_| ()).map_err(|e| describe(&e))
    }

    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities { compare_and_set: self.put_if_version.is_some(), batch: self.put_many.is_some() }
    }

    async fn put_if_version(&self, key: &str, value: String, expected_version: u64) -> Result<bool, String> {
        let method = self.put_if_version.as_ref().ok_or("kv.putIfVersion is missing")?;
        let returned = method
            .call3(
                &self.kv,
                &JsValue::from_str(key),
                &JsValue::from_str(&value),
                &JsValue::from_f64(expected_version as f64),
            )
            .map_err(|e| describe(&e))?;
        let answer = settle(returned).await.map_err(|e| describe(&e))?;
        answer.as_bool().ok_or_else(|| "kv.putIfVersion must return (or resolve to) true or false".to_string())
    }

    async fn put_many(&self, entries: Vec<(String, String)>) -> Result<(), String> {
        let method = self.put_many.as_ref().ok_or("kv.putMany is missing")?;
        // A plain object, as Durable Object storage's `put(entries)` takes.
        // Keys always contain '/', so none can be `__proto__`.
        let object = js_sys::Object::new();
        for (key, value) in &entries {
            Reflect::set(&object, &JsValue::from_str(key), &JsValue::from_str(value)).map_err(|e| describe(&e))?;
        }
        let returned = method.call1(&self.kv, &object).map_err(|e| describe(&e))?;
        settle(returned).await.map(|_| ()).map_err(|e| describe(&e))
    }
}

/// Random words drawn from the host per `crypto.getRandomValues` call (2 KiB):
/// in Node a call costs about the same whether it fills 256 bytes or 2 KiB, and
/// an operation draws two words, so a draw lasts 128 operations.
const RANDOM_WORDS_PER_DRAW: usize = 256;

/// The host clock (`now`, or `Date.now`) and `crypto.getRandomValues`.
#[derive(Debug)]
pub(crate) struct JsEnvironment {
    now: Option<Function>,
    /// Words drawn but not yet used, and how many of them are used.
    random: RefCell<([u64; RANDOM_WORDS_PER_DRAW], usize)>,
}

impl JsEnvironment {
    pub(crate) fn new(now: Option<Function>) -> Self {
        Self { now, random: RefCell::new(([0; RANDOM_WORDS_PER_DRAW], RANDOM_WORDS_PER_DRAW)) }
    }
}

/// Fills `words` from the platform; `false` where the platform refuses
/// randomness (workerd at global scope).
fn draw_random(words: &mut [u64; RANDOM_WORDS_PER_DRAW]) -> bool {
    let mut bytes = [0u8; 8 * RANDOM_WORDS_PER_DRAW];
    if getrandom::fill(&mut bytes).is_err() {
        return false;
    }
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
    }
    true
}

/// One word from `Math.random`, for a draw the platform refused: ids stay
/// unique in practice, and the next call asks the platform again.
fn math_random_word() -> u64 {
    let high = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    (high << 32) | low
}

impl Environment for JsEnvironment {
    fn now_ms(&self) -> Result<UnixMs, String> {
        let Some(now) = &self.now else {
            return Ok(js_sys::Date::now() as UnixMs);
        };
        let value = now.call0(&JsValue::UNDEFINED).map_err(|e| format!("now() threw: {}", describe(&e)))?;
        let value = if value.is_instance_of::<js_sys::Date>() {
            super::convert::date_ms(&value).ok_or("now() returned a Date whose getTime() threw or is not a number")?
        } else {
            value.as_f64().ok_or("now() must return epoch milliseconds (a number) or a Date")?
        };
        if !crate::core::float::is_whole(value) {
            return Err(format!(
                "now() must return whole epoch milliseconds, got {}",
                crate::core::amount::describe_number(value)
            ));
        }
        Ok(value as UnixMs)
    }

    fn random_u64(&self) -> u64 {
        // Borrowed only inside this synchronous call.
        let mut random = self.random.borrow_mut();
        let (words, used) = &mut *random;
        if *used == RANDOM_WORDS_PER_DRAW {
            if !draw_random(words) {
                return math_random_word();
            }
            *used = 0;
        }
        *used += 1;
        words[*used - 1]
    }
}
