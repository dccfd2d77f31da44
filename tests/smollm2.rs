//! SmolLM2-135M-Instruct against transformers (opt-in: set `SVDTUNE_SMOLLM2_DIR` to the
//! converted Hugging Face folder; see docs/testing.md, "Real model check"). Next-token logits of a chat
//! prompt within 1e-3 and the first 20 greedy tokens identical, on the CPU and GPU backends.
//! Goldens: `tests/fixtures/smollm2/make_golden.py`.
#![cfg(not(target_arch = "wasm32"))]
mod common;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;
use svdtune::model::Model;
use svdtune::model::generate::generate;
use svdtune::model::load::DirFiles;
use svdtune::model::sample::Sampling;

const GOLDEN: &[u8] = include_bytes!("fixtures/smollm2/golden.safetensors");

fn golden_f32(name: &str) -> Vec<f32> {
    let st = safetensors::SafeTensors::deserialize(GOLDEN).unwrap();
    let t = st.tensor(name).unwrap();
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

fn golden_ids(name: &str) -> Vec<u32> {
    let st = safetensors::SafeTensors::deserialize(GOLDEN).unwrap();
    let t = st.tensor(name).unwrap();
    t.data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
        .collect()
}

async fn check<B: Backend>(be: &B, dir: &str) {
    let files = DirFiles::new(dir).unwrap();
    let mut model = Model::load(be, &files, |_, _, _| {}).unwrap();
    let prompt = golden_ids("input_ids");
    let want_logits = golden_f32("last_logits");
    let want_tokens = golden_ids("greedy");
    let logits = svdtune::model::generate::prompt_logits(be, &mut model, &prompt)
        .await
        .unwrap();
    common::assert_close(
        &format!("SmolLM2 next-token logits on {}", be.name()),
        &logits,
        &want_logits,
        1e-3,
        0.0,
    );
    let out = generate(
        be,
        &mut model,
        &prompt,
        20,
        Sampling::default(),
        &[],
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(out.tokens, want_tokens, "greedy tokens on {}", be.name());
}

#[test]
fn smollm2_matches_transformers() {
    let Ok(dir) = std::env::var("SVDTUNE_SMOLLM2_DIR") else {
        eprintln!("SVDTUNE_SMOLLM2_DIR not set: SmolLM2 check not run (opt-in)");
        return;
    };
    pollster::block_on(async {
        check(&CpuBackend, &dir).await;
        check(&common::gpu().await, &dir).await;
    });
}
