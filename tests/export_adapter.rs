//! The PEFT LoRA adapter: one `lora_A` `[q, n]` / `lora_B` `[m, q]` pair per decomposed module
//! under PEFT's key names, with `lora_B · lora_A = U diag(Σ − Σ₀) Vᵀ` (the merged export minus
//! the original weight); `adapter_config.json` with per-module ranks and alphas equal to them
//! (scaling 1); norm weights as `modules_to_save` when asked; and clear errors for a missing,
//! extra, duplicate or mis-sized Σ₀. Runs natively and in browsers.
mod common;
mod export_support;
use export_support::*;
use serde_json::Value;
use svdtune::backend::cpu::CpuBackend;
use svdtune::export::{
    ADAPTER_CONFIG, ADAPTER_WEIGHTS, AdapterOptions, MemoryTarget, export_adapter,
};
use svdtune::model::{Checkpoint, MemoryFiles, MemorySource, Model};

fn opts(include_norms: bool) -> AdapterOptions {
    AdapterOptions {
        base_model: "tiny/base".into(),
        include_norms,
    }
}

/// Decomposes `files` (keeping `keep_dense` modules dense) and exports its adapter.
async fn adapter(
    files: &MemoryFiles,
    keep_dense: &dyn Fn(&str) -> bool,
    include_norms: bool,
) -> (Truth, MemoryTarget) {
    let be = CpuBackend;
    let mut model = Model::load(&be, files, |_, _, _| {}).unwrap();
    let truth = decompose(&be, &mut model, 21, keep_dense).await;
    let mut out = MemoryTarget::new();
    let done = export_adapter(
        &be,
        &model.cfg,
        &model.weights,
        &truth.sigma0,
        &opts(include_norms),
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(done.files, [ADAPTER_WEIGHTS, ADAPTER_CONFIG]);
    (truth, out)
}

async fn check(what: &str, files: MemoryFiles) {
    let keep_dense = |m: &str| m == "model.layers.1.mlp.up_proj";
    let (truth, out) = adapter(&files, &keep_dense, false).await;
    let st = Checkpoint::single(MemorySource::new(
        ADAPTER_WEIGHTS,
        out.get(ADAPTER_WEIGHTS).unwrap().to_vec(),
    ))
    .unwrap();
    let mut want_keys = Vec::new();
    for (module, &(m, n, q)) in &truth.dims {
        let a_key = format!("base_model.model.{module}.lora_A.weight");
        let b_key = format!("base_model.model.{module}.lora_B.weight");
        assert_eq!(st.entry(&a_key).unwrap().0.shape, [q, n], "{what}: {a_key}");
        assert_eq!(st.entry(&b_key).unwrap().0.shape, [m, q], "{what}: {b_key}");
        assert_eq!(st.entry(&a_key).unwrap().0.dtype, safetensors::Dtype::F32);
        let (a, b) = (st.read_f32(&a_key).unwrap(), st.read_f32(&b_key).unwrap());
        let mut ba = vec![0.0f32; m * n];
        for r in 0..m {
            for c in 0..n {
                ba[r * n + c] = (0..q).map(|k| b[r * q + k] * a[k * n + c]).sum();
            }
        }
        assert_close64(
            &format!("{what}: B·A of {module}"),
            &ba,
            &truth.update[module],
            1e-6,
            1e-5,
        );
        want_keys.push(a_key);
        want_keys.push(b_key);
    }
    want_keys.sort();
    assert_eq!(
        st.names().collect::<Vec<_>>(),
        want_keys,
        "{what}: adapter keys"
    );
    assert!(!truth.dims.contains_key("model.layers.1.mlp.up_proj"));

    let cfg: Value = serde_json::from_slice(out.get(ADAPTER_CONFIG).unwrap()).unwrap();
    let max_q = truth.dims.values().map(|d| d.2).max().unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["task_type"], "CAUSAL_LM");
    assert_eq!(cfg["base_model_name_or_path"], "tiny/base");
    assert_eq!(cfg["r"], max_q);
    assert_eq!(cfg["lora_alpha"], max_q);
    assert_eq!(cfg["lora_dropout"], 0.0);
    assert_eq!(cfg["bias"], "none");
    assert_eq!(cfg["use_rslora"], false);
    assert_eq!(cfg["fan_in_fan_out"], false);
    assert_eq!(cfg["modules_to_save"], Value::Null);
    let targets: Vec<&str> = cfg["target_modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut sorted = targets.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        truth.dims.keys().map(String::as_str).collect::<Vec<_>>()
    );
    for (module, &(_, _, q)) in &truth.dims {
        assert_eq!(cfg["rank_pattern"][module], q, "{what}: rank of {module}");
        assert_eq!(cfg["alpha_pattern"][module], q, "{what}: alpha of {module}");
    }
    assert_eq!(
        cfg["rank_pattern"].as_object().unwrap().len(),
        truth.dims.len()
    );
}

async fn llama_tied() {
    check("llama", export_fixture!("llama")).await;
}
gpu_test!(adapter_of_tied_llama_holds_the_update, llama_tied);

async fn phi3_fused() {
    check("phi3", export_fixture!("phi3")).await;
}
gpu_test!(adapter_of_fused_phi3_holds_the_update, phi3_fused);

async fn qwen2_biases() {
    check("qwen2", export_fixture!("qwen2")).await;
}
gpu_test!(adapter_of_qwen2_holds_the_update, qwen2_biases);

async fn with_norms() {
    let (truth, out) = adapter(&export_fixture!("llama"), &|_| false, true).await;
    let st = Checkpoint::single(MemorySource::new(
        ADAPTER_WEIGHTS,
        out.get(ADAPTER_WEIGHTS).unwrap().to_vec(),
    ))
    .unwrap();
    for norm in [
        "model.layers.0.input_layernorm.weight",
        "model.layers.1.post_attention_layernorm.weight",
        "model.norm.weight",
    ] {
        let got = st.read_f32(&format!("base_model.model.{norm}")).unwrap();
        assert_close64(norm, &got, &truth.expected[norm], 0.0, 0.0);
    }
    assert_eq!(st.names().count(), 2 * truth.dims.len() + 5);
    let cfg: Value = serde_json::from_slice(out.get(ADAPTER_CONFIG).unwrap()).unwrap();
    assert_eq!(
        cfg["modules_to_save"],
        serde_json::json!(["input_layernorm", "post_attention_layernorm", "model.norm"])
    );
}
gpu_test!(trained_norms_travel_as_modules_to_save, with_norms);

/// The error of an adapter export with these Σ₀ (which must fail before writing anything).
async fn adapter_error(model: &Model<CpuBackend>, s0: Vec<(String, Vec<f32>)>) -> String {
    let mut out = MemoryTarget::new();
    let r = export_adapter(
        &CpuBackend,
        &model.cfg,
        &model.weights,
        &s0,
        &opts(false),
        &mut out,
    )
    .await;
    assert!(out.files.is_empty());
    match r {
        Ok(_) => panic!("the adapter export succeeded"),
        Err(e) => e.to_string(),
    }
}

async fn sigma0_errors() {
    let be = CpuBackend;
    let files = export_fixture!("llama");
    let mut model = Model::load(&be, &files, |_, _, _| {}).unwrap();
    let e = adapter_error(&model, vec![]).await;
    assert!(e.contains("no layer is decomposed"), "{e}");
    let truth = decompose(&be, &mut model, 3, |_| false).await;
    let all = truth.sigma0.clone();

    let missing: Vec<_> = all[1..].to_vec();
    let e = adapter_error(&model, missing).await;
    assert!(
        e.contains(&format!("`{}` is decomposed, but no Σ₀", all[0].0)),
        "{e}"
    );

    let mut short = all.clone();
    short[3].1.pop();
    let e = adapter_error(&model, short).await;
    assert!(
        e.contains(&format!("Σ₀ of `{}` has", all[3].0)) && e.contains("rank"),
        "{e}"
    );

    let mut extra = all.clone();
    extra.push(("model.layers.9.self_attn.q_proj".into(), vec![1.0]));
    let e = adapter_error(&model, extra).await;
    assert!(
        e.contains("`model.layers.9.self_attn.q_proj`, which is not a linear layer"),
        "{e}"
    );

    let mut twice = all.clone();
    twice.push(all[0].clone());
    let e = adapter_error(&model, twice).await;
    assert!(e.contains("given twice"), "{e}");

    let mut nan = all.clone();
    nan[2].1[0] = f32::NAN;
    let e = adapter_error(&model, nan).await;
    assert!(
        e.contains(&format!("Σ₀ of `{}`", all[2].0)) && e.contains("NaN"),
        "{e}"
    );
}
gpu_test!(
    adapter_refuses_bad_sigma0_with_the_module_named,
    sigma0_errors
);

async fn qwen3_qk_norms() {
    check("qwen3", export_fixture!("qwen3")).await;
}
gpu_test!(adapter_of_qwen3_carries_its_qk_norms, qwen3_qk_norms);

async fn gemma3_offset_norms() {
    check("gemma3", export_fixture!("gemma3")).await;
}
gpu_test!(adapter_of_gemma3_holds_the_update, gemma3_offset_norms);
