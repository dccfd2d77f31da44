//! `config.json` of the Qwen3 and Gemma 3 families as transformers reads them: Gemma 3's two
//! forms (transformers 5's `rope_parameters` keyed by layer type and `layer_types`; the 4.x keys
//! `rope_theta`, `rope_local_base_freq`, `rope_scaling` and `sliding_window_pattern`), its
//! softmax scale, and the family defaults; options that would compute differently are refused
//! with the option named. Runs natively and in browsers.
use serde_json::{Value, json};
use svdtune::model::ModelConfig;
use svdtune::model::config::Activation;
use svdtune::model::rope::RopeScaling;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn parse(v: &Value) -> Result<ModelConfig, String> {
    ModelConfig::from_json("config.json", &v.to_string()).map_err(|e| e.to_string())
}

fn gemma_fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/models/gemma3/config.json")).unwrap()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn gemma3_reads_both_config_forms() {
    let c = parse(&gemma_fixture()).unwrap();
    assert_eq!(c.activation, Activation::GeluTanh);
    assert!(c.scale_embeddings && c.tie_word_embeddings);
    assert_eq!(c.attention_scale(), 24f64.powf(-0.5) as f32);
    let local = c.local_attention.clone().unwrap();
    assert_eq!((local.window, local.layers.clone()), (4, vec![true, false]));
    assert_eq!((c.rope.theta, local.rope.theta), (1e6, 1e4));
    assert_eq!((c.layer_window(0), c.layer_window(1)), (Some(4), None));

    // The 4.x form of published Gemma 3 checkpoints.
    let mut legacy = gemma_fixture();
    let m = legacy.as_object_mut().unwrap();
    for k in ["rope_parameters", "layer_types", "_sliding_window_pattern"] {
        m.remove(k);
    }
    m.insert("num_hidden_layers".into(), json!(4));
    m.insert("rope_theta".into(), json!(1e6));
    m.insert("rope_local_base_freq".into(), json!(1e4));
    m.insert("sliding_window_pattern".into(), json!(2));
    m.insert(
        "rope_scaling".into(),
        json!({"rope_type": "linear", "factor": 8.0}),
    );
    let c = parse(&legacy).unwrap();
    let local = c.local_attention.clone().unwrap();
    assert_eq!(local.layers, vec![true, false, true, false]);
    assert_eq!(c.rope.scaling, RopeScaling::Linear { factor: 8.0 });
    assert_eq!(local.rope.scaling, RopeScaling::None);
    assert_eq!((c.rope.theta, local.rope.theta), (1e6, 1e4));
    // Defaults of Gemma3TextConfig: pattern 6, query_pre_attn_scalar 256, head_dim 256.
    m_remove(
        &mut legacy,
        &[
            "sliding_window_pattern",
            "query_pre_attn_scalar",
            "head_dim",
        ],
    );
    legacy["num_hidden_layers"] = json!(7);
    let c = parse(&legacy).unwrap();
    let layers = c.local_attention.clone().unwrap().layers;
    assert_eq!(layers, vec![true, true, true, true, true, false, true]);
    assert_eq!(c.attention_scale(), 1.0 / 16.0);
    assert_eq!(c.head_dim, 256);
}

fn m_remove(v: &mut Value, keys: &[&str]) {
    for k in keys {
        v.as_object_mut().unwrap().remove(*k);
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn gemma3_refuses_what_it_would_compute_differently() {
    for (key, value, says) in [
        (
            "final_logit_softcapping",
            json!(30.0),
            "final_logit_softcapping 30",
        ),
        (
            "attn_logit_softcapping",
            json!(50.0),
            "attn_logit_softcapping 50",
        ),
        (
            "hidden_activation",
            json!("gelu"),
            "(supported: gelu_pytorch_tanh)",
        ),
        (
            "use_bidirectional_attention",
            json!(true),
            "use_bidirectional_attention",
        ),
        (
            "layer_types",
            json!(["sliding_attention"]),
            "layer_types has 1 entries for 2 layers",
        ),
    ] {
        let mut c = gemma_fixture();
        c[key] = value;
        let e = parse(&c).unwrap_err();
        assert!(e.contains(says), "{key}: {e}");
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn qwen3_defaults_and_refusals() {
    let mut c: Value =
        serde_json::from_str(include_str!("fixtures/models/qwen3/config.json")).unwrap();
    assert_eq!(parse(&c).unwrap().head_dim, 16);
    m_remove(&mut c, &["head_dim"]);
    // Qwen3Config's head_dim is 128 whatever hidden / heads gives.
    assert_eq!(parse(&c).unwrap().head_dim, 128);
    c["use_sliding_window"] = json!(true);
    let e = parse(&c).unwrap_err();
    assert!(
        e.contains("use_sliding_window true is not supported for qwen3"),
        "{e}"
    );
}
