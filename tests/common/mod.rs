//! Shared test helpers: deterministic random data, tolerant comparison with a readable report,
//! and `gpu_test!`, which runs one async test body natively (pollster, lavapipe in CI) and in the
//! browser (wasm-bindgen-test, WebGPU in headless Chromium and Firefox).
//!
//! In the browser the tests run on the page's threaded engine (feature `threads`, built by
//! scripts/test.sh as scripts/build-web.sh builds web/pkg): each test binary runs in a dedicated
//! worker (where `Atomics.wait` is allowed) and starts the CPU backend's pool of Web Workers
//! before its first test body ([`thread_pool`]). A build without the feature runs on the page's
//! main thread, single-threaded.
#![allow(dead_code)]

pub mod factors;

use svdtune::backend::Backend;
use svdtune::backend::cpu::{CpuBackend, CpuTensor};
use svdtune::backend::gpu::{GpuBackend, GpuTensor};

#[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// Starts the CPU backend's pool (`navigator.hardwareConcurrency` Web Workers sharing the
/// memory, at least 2) once per test binary, before anything uses rayon: a split that ran first
/// would fix rayon's global pool at the calling thread alone. Natively and in a build without
/// threads: nothing to do.
pub async fn thread_pool() {
    #[cfg(all(target_arch = "wasm32", feature = "threads"))]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static STARTED: AtomicBool = AtomicBool::new(false);
        if STARTED.swap(true, Ordering::SeqCst) {
            return;
        }
        let get = |on: &wasm_bindgen::JsValue, key: &str| js_sys::Reflect::get(on, &key.into());
        let navigator = get(&js_sys::global(), "navigator").expect("navigator");
        let cores = get(&navigator, "hardwareConcurrency")
            .ok()
            .and_then(|v| v.as_f64());
        let threads = (cores.unwrap_or(2.0) as usize).max(2);
        wasm_bindgen_futures::JsFuture::from(svdtune::wasm::init_thread_pool(threads))
            .await
            .expect("the CPU backend's thread pool starts");
        assert_eq!(
            rayon::current_num_threads(),
            threads,
            "rayon runs on the pool"
        );
    }
}

/// Defines a test that runs `$body().await` on every target.
#[macro_export]
macro_rules! gpu_test {
    ($name:ident, $body:path) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        fn $name() {
            pollster::block_on($body());
        }
        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn $name() {
            $crate::common::thread_pool().await;
            $body().await;
        }
    };
}

/// The GPU backend. A missing adapter FAILS the test: GPU tests never skip silently.
pub async fn gpu() -> GpuBackend {
    match GpuBackend::new().await {
        Ok(g) => g,
        Err(e) => panic!("GPU test needs an adapter: {e}"),
    }
}

/// Deterministic values in [-1, 1) from a seed (64-bit LCG).
pub fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Deterministic values in [lo, hi).
pub fn rand_range(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    rand_vec(n, seed)
        .into_iter()
        .map(|x| lo + (x + 1.0) * 0.5 * (hi - lo))
        .collect()
}

/// Fails with the first mismatches and the max error unless `|got − want| ≤ atol + rtol·|want|`
/// everywhere (NaN never matches).
pub fn assert_close(what: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs expected {}",
        got.len(),
        want.len()
    );
    let mut bad = Vec::new();
    let mut max_err = 0.0f32;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g - w).abs();
        if err.is_nan() || err > atol + rtol * w.abs() {
            if bad.len() < 8 {
                bad.push(format!("  [{i}] got {g} want {w} (err {err:e})"));
            }
            max_err = f32::NAN;
        } else if err > max_err {
            max_err = err;
        }
    }
    if !bad.is_empty() {
        let worst = got
            .iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0f32, f32::max);
        panic!(
            "{what}: {} of {} values differ (atol {atol:e}, rtol {rtol:e}, max err {worst:e}):\n{}",
            got.iter()
                .zip(want)
                .filter(|(g, w)| {
                    let e = (*g - *w).abs();
                    e.is_nan() || e > atol + rtol * w.abs()
                })
                .count(),
            got.len(),
            bad.join("\n")
        );
    }
}

/// The same host data on both backends.
pub fn both(
    cpu: &CpuBackend,
    gpu: &GpuBackend,
    data: &[f32],
    shape: &[usize],
) -> (CpuTensor, GpuTensor) {
    (
        cpu.tensor(data, shape).unwrap(),
        gpu.tensor(data, shape).unwrap(),
    )
}

/// Random data of `shape` on both backends.
pub fn both_rand(
    cpu: &CpuBackend,
    gpu: &GpuBackend,
    shape: &[usize],
    seed: u64,
) -> (CpuTensor, GpuTensor) {
    let n = shape.iter().product();
    both(cpu, gpu, &rand_vec(n, seed), shape)
}

/// Reads a GPU tensor and compares it with the CPU tensor.
pub async fn assert_same(
    what: &str,
    gpu: &GpuBackend,
    g: &GpuTensor,
    c: &CpuTensor,
    atol: f32,
    rtol: f32,
) {
    let got = gpu.read(g).await.unwrap();
    assert_close(what, &got, &c.data, atol, rtol);
}

/// The tiny chat model folder (config, weights, tokenizer) in memory, as a page or the CLI gets it.
pub fn tiny_chat() -> svdtune::model::MemoryFiles {
    let mut f = svdtune::model::MemoryFiles::new();
    for (name, bytes) in [
        (
            "config.json",
            &include_bytes!("../fixtures/tiny-chat/config.json")[..],
        ),
        (
            "model.safetensors",
            &include_bytes!("../fixtures/tiny-chat/model.safetensors")[..],
        ),
        (
            "tokenizer.json",
            &include_bytes!("../fixtures/tiny-chat/tokenizer.json")[..],
        ),
        (
            "tokenizer_config.json",
            &include_bytes!("../fixtures/tiny-chat/tokenizer_config.json")[..],
        ),
    ] {
        f.insert(name, bytes.to_vec());
    }
    f
}
