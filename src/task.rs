//! Letting the host's event loop run between long pieces of work. In the page's worker an engine
//! call is one future: without a yield, a decomposition of 211 layers or a loss pass never lets
//! the worker see a Stop message. [`yield_now`] awaits one message through a `MessageChannel` on
//! wasm and returns at once natively (the CLI and native tests have no event loop to serve).
//!
//! Not `setTimeout(0)`: browsers clamp timers nested more than five deep to 4 ms, and every
//! yield after the first runs inside the previous one's timer task: 211 timer yields in a row
//! wait 0.86 s in a headless Chromium worker. A posted message is not clamped, and it queues
//! behind a Stop that has already arrived.

/// Lets the event loop run once (wasm), a no-op natively.
#[cfg(target_arch = "wasm32")]
pub async fn yield_now() {
    use wasm_bindgen::{JsCast, JsValue};
    // Held until the message arrives, so the ports stay alive while it is in flight.
    let channel = web_sys::MessageChannel::new().ok();
    let p = js_sys::Promise::new(&mut |resolve, _| {
        let posted = channel.as_ref().is_some_and(|ch| {
            ch.port1().set_onmessage(Some(&resolve));
            ch.port2().post_message(&JsValue::NULL).is_ok()
        });
        if posted {
            return;
        }
        // No MessageChannel (not a browser or worker scope): a timer, clamped or not.
        let global = js_sys::global();
        let timer = js_sys::Reflect::get(&global, &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        let queued = timer.map(|f| f.call2(&global, &resolve, &0.into()).is_ok());
        if queued != Some(true) {
            let _ = resolve.call0(&JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
    if let Some(ch) = channel {
        ch.port1().set_onmessage(None);
        ch.port1().close();
        ch.port2().close();
    }
}

/// Lets the event loop run once (wasm), a no-op natively.
#[cfg(not(target_arch = "wasm32"))]
pub async fn yield_now() {}
