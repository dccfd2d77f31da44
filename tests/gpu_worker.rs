//! The engine runs where the page runs it: inside a dedicated Web Worker (navigator.gpu in a
//! WorkerGlobalScope). Runs the engine self-check there, GPU against the CPU reference.
#![cfg(target_arch = "wasm32")]
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::gpu::GpuBackend;
use svdtune::selfcheck;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen_test]
async fn selfcheck_passes_in_a_dedicated_worker() {
    let gpu = GpuBackend::new().await.expect("WebGPU adapter in a worker");
    let results = selfcheck::compare(&gpu, &CpuBackend)
        .await
        .expect("self-check runs");
    assert!(results.len() >= 7);
    for r in results {
        assert!(
            r.passed,
            "{} differs from the CPU reference: {:e}",
            r.op, r.max_error
        );
    }
}
