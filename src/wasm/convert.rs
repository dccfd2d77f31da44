//! Conversions at the JavaScript boundary: engine errors → JS `Error`s with the engine's message
//! (which names the file, tensor or option) and its machine-readable `kind`, Rust values → plain JS objects, progress callbacks, the
//! page's partial training options → [`TrainOptions`], and a `Write` that forwards bytes to a JS
//! callback in chunks (streamed downloads).
use crate::error::{Error, Result};
use crate::train::run::TrainOptions;
use serde::Serialize;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

/// The engine's error as a JS `Error` with the same `message` and a `kind` property
/// ([`Error::kind`]: `"device-lost"`, `"binding-too-large"`, `"template"`, …) that the page
/// switches on.
pub fn js_err(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("kind"), &e.kind().into());
    err.into()
}

/// A serializable value as a plain JS object (maps as objects, not `Map`s).
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| Error::param("web", format!("cannot convert a result for the page: {e}")))
}

/// Milliseconds since the epoch (for timings).
pub fn now_ms() -> f64 {
    js_sys::Date::now()
}

/// `progress(done, total, name)` calling a JS function; a throwing callback is ignored (progress
/// is informational and must not abort the work).
pub fn progress_fn(f: Option<js_sys::Function>) -> impl FnMut(usize, usize, &str) {
    move |done, total, name| {
        if let Some(f) = &f {
            let _ = f.call3(
                &JsValue::NULL,
                &JsValue::from(done as f64),
                &JsValue::from(total as f64),
                &JsValue::from_str(name),
            );
        }
    }
}

/// [`progress_fn`] whose JS function can stop the work: returning `false` breaks (any other
/// value, or a throw, goes on).
pub fn progress_until(
    f: Option<js_sys::Function>,
) -> impl FnMut(usize, usize, &str) -> std::ops::ControlFlow<()> {
    move |done, total, name| {
        let Some(f) = &f else {
            return std::ops::ControlFlow::Continue(());
        };
        let went = f.call3(
            &JsValue::NULL,
            &JsValue::from(done as f64),
            &JsValue::from(total as f64),
            &JsValue::from_str(name),
        );
        match went {
            Ok(v) if v == JsValue::FALSE => std::ops::ControlFlow::Break(()),
            _ => std::ops::ControlFlow::Continue(()),
        }
    }
}

/// The page's options (any subset of [`TrainOptions`]'s fields, by their names) over the
/// defaults, checked. Unknown names and mistyped values are errors naming the option.
pub fn train_options(given: JsValue) -> Result<TrainOptions> {
    let bad = |m: String| Error::param("options", m);
    let mut all = serde_json::to_value(TrainOptions::default()).map_err(|e| bad(e.to_string()))?;
    if !(given.is_undefined() || given.is_null()) {
        let given: serde_json::Map<String, serde_json::Value> =
            serde_wasm_bindgen::from_value(given)
                .map_err(|e| bad(format!("expected an object of options: {e}")))?;
        let fields = all
            .as_object_mut()
            .ok_or_else(|| bad("the default options are not an object".into()))?;
        for (name, value) in given {
            if !fields.contains_key(&name) {
                let known: Vec<&str> = fields.keys().map(String::as_str).collect();
                return Err(bad(format!(
                    "unknown option {name:?}; known: {}",
                    known.join(", ")
                )));
            }
            fields.insert(name, value);
        }
    }
    let options: TrainOptions = serde_json::from_value(all).map_err(|e| bad(e.to_string()))?;
    options.check()?;
    Ok(options)
}

/// Chunk size of streamed downloads.
const CHUNK: usize = 8 << 20;

/// Collects written bytes and hands them to a JS function as `Uint8Array`s of about [`CHUNK`]
/// bytes (the last one on `flush`).
pub struct JsChunks {
    sink: js_sys::Function,
    buf: Vec<u8>,
    /// Bytes handed over so far.
    pub sent: u64,
}

impl JsChunks {
    pub fn new(sink: js_sys::Function) -> Self {
        JsChunks {
            sink,
            buf: Vec::with_capacity(CHUNK),
            sent: 0,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = js_sys::Uint8Array::from(self.buf.as_slice());
        self.sink.call1(&JsValue::NULL, &chunk).map_err(|e| {
            let why = e
                .dyn_ref::<js_sys::Error>()
                .map(|e| String::from(e.message()))
                .unwrap_or_else(|| format!("{e:?}"));
            std::io::Error::other(why)
        })?;
        self.sent += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

impl std::io::Write for JsChunks {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
