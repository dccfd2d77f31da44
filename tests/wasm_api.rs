//! The JavaScript-facing API the page's worker calls: the plan summary from a config.json gives
//! the numbers `svdtune inspect` prints, and a bad config is a JS error naming the option, with
//! the error's machine-readable `kind`; and the engine's yield to the event loop runs queued
//! messages without a timer's clamp.
#![cfg(target_arch = "wasm32")]
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn field(v: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(v, &JsValue::from_str(name)).unwrap()
}

#[wasm_bindgen_test]
fn plan_summary_matches_inspect() {
    let config = include_str!("fixtures/smollm2/config.json");
    let s = svdtune::wasm::plan_summary(config, 0.1, false).unwrap();
    assert_eq!(field(&s, "layer_count").as_f64(), Some(211.0));
    assert_eq!(field(&s, "model_params").as_f64(), Some(134_515_008.0));
    assert_eq!(field(&s, "embedding_params").as_f64(), Some(28_311_552.0));
    let totals = js_sys::Array::from(&field(&s, "totals"));
    let first = totals.get(0);
    assert_eq!(field(&first, "rank_fraction").as_f64(), Some(0.1));
    assert_eq!(field(&first, "trainable").as_f64(), Some(44_883.0));
    let lora = js_sys::Array::from(&field(&s, "lora"));
    assert_eq!(field(&lora.get(0), "params").as_f64(), Some(2_840_064.0));
}

#[wasm_bindgen_test]
fn plan_summary_rejects_unsupported_models() {
    let err = svdtune::wasm::plan_summary(r#"{"model_type": "gpt2"}"#, 0.1, false).unwrap_err();
    let msg = err;
    let text = js_sys::Reflect::get(&msg, &JsValue::from_str("message")).unwrap();
    let text = text.as_string().unwrap();
    assert!(text.contains("gpt2") && text.contains("llama"), "{text}");
    assert!(msg.is_instance_of::<js_sys::Error>());
    assert_eq!(
        field(&msg, "kind").as_string().as_deref(),
        Some("unsupported")
    );
}

/// `yield_now` (between decomposed layers) lets a message that has already arrived run, as a
/// Stop from the page must, and is not held back by timers' 4 ms clamp: 250 yields in a row take
/// well under the 0.98 s a nested `setTimeout(0)` would force.
#[wasm_bindgen_test]
async fn yields_run_queued_messages_without_timer_clamping() {
    use std::cell::Cell;
    use std::rc::Rc;
    let seen = Rc::new(Cell::new(false));
    let on_message = {
        let seen = seen.clone();
        wasm_bindgen::closure::Closure::<dyn FnMut()>::new(move || seen.set(true))
    };
    let channel = web_sys::MessageChannel::new().unwrap();
    channel
        .port1()
        .set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    channel.port2().post_message(&JsValue::NULL).unwrap();
    let mut yields = 0;
    while !seen.get() && yields < 3 {
        svdtune::task::yield_now().await;
        yields += 1;
    }
    assert!(seen.get(), "a queued message ran within {yields} yields");
    channel.port1().close();

    let start = js_sys::Date::now();
    for _ in 0..250 {
        svdtune::task::yield_now().await;
    }
    let ms = js_sys::Date::now() - start;
    assert!(
        ms < 600.0,
        "250 yields took {ms} ms (a clamped timer needs 4 ms each)"
    );
}
