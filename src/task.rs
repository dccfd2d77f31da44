//! Letting the host's event loop run between long pieces of work. In the page's worker an engine
//! call is one future: without a yield, a decomposition of 211 layers or a loss pass never lets
//! the worker see a Stop message. [`yield_now`] awaits a `setTimeout(0)` on wasm and returns at
//! once natively (the CLI and native tests have no event loop to serve).

/// Lets the event loop run once (wasm), a no-op natively.
#[cfg(target_arch = "wasm32")]
pub async fn yield_now() {
    use wasm_bindgen::JsCast;
    let p = js_sys::Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let timer = js_sys::Reflect::get(&global, &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let queued = timer.map(|f| f.call2(&global, &resolve, &0.into()).is_ok());
        if queued != Some(true) {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
}

/// Lets the event loop run once (wasm), a no-op natively.
#[cfg(not(target_arch = "wasm32"))]
pub async fn yield_now() {}
