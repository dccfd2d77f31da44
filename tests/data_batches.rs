//! Truncation, packing, fixed-shape batches and the seeded split. Runs natively and in headless
//! Chromium.
mod data_common;

use data_common::*;
use svdtune::data::batch::make_batches;
use svdtune::data::dataset::split_indices;
use svdtune::data::pack::{one_per_row, pack};
use svdtune::data::{Dataset, DatasetOptions, Example, Segment};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn ex(ids: &[u32], mask: &[u8]) -> Example {
    Example {
        line: 1,
        input_ids: ids.to_vec(),
        loss_mask: mask.to_vec(),
        full_len: ids.len(),
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn best_fit_decreasing_packing() {
    let rows = pack(&[5, 3, 4, 2], 8).unwrap();
    let seg = |example, start, len| Segment {
        example,
        start,
        len,
    };
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].segments, vec![seg(0, 0, 5), seg(1, 5, 3)]);
    assert_eq!(rows[1].segments, vec![seg(2, 0, 4), seg(3, 4, 2)]);
    assert_eq!(rows[0].used(), 8);
    assert!(
        pack(&[9], 8)
            .unwrap_err()
            .to_string()
            .contains("example 0 has 9 tokens")
    );
    assert!(pack(&[0], 8).is_err());
    assert_eq!(one_per_row(&[5, 3], 8).unwrap().len(), 2);
    // Many examples: every example placed exactly once, no row overfull.
    let lens: Vec<usize> = (0..500).map(|i| 1 + (i * 37) % 64).collect();
    let rows = pack(&lens, 64).unwrap();
    let mut seen = vec![0; lens.len()];
    for r in &rows {
        assert!(r.used() <= 64);
        let mut pos = 0;
        for s in &r.segments {
            assert_eq!(s.start, pos);
            assert_eq!(s.len, lens[s.example]);
            pos += s.len;
            seen[s.example] += 1;
        }
    }
    assert!(seen.iter().all(|&n| n == 1));
    let total: usize = lens.iter().sum();
    assert!(
        rows.len() <= total.div_ceil(64) + 2,
        "{} rows for {total} tokens",
        rows.len()
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn batch_layout_shift_positions_windows_padding() {
    let a = ex(&[10, 11, 12, 13, 14], &[0, 0, 1, 1, 1]);
    let b = ex(&[20, 21, 22], &[0, 1, 1]);
    let c = ex(&[30, 31], &[1, 1]);
    let exs = [&a, &b, &c];
    let rows = pack(&[5, 3, 2], 8).unwrap(); // row 0: a|b, row 1: c
    let batches = make_batches(&exs, &rows, 3, 8, 0).unwrap();
    assert_eq!(batches.len(), 1);
    let bt = &batches[0];
    assert_eq!((bt.batch, bt.seq_len), (3, 8));
    for v in [
        &bt.input_ids,
        &bt.target_ids,
        &bt.position_ids,
        &bt.window_start,
    ] {
        assert_eq!(v.len(), 24);
    }
    assert_eq!(&bt.input_ids[..8], &[10, 11, 12, 13, 14, 20, 21, 22]);
    assert_eq!(&bt.target_ids[..8], &[11, 12, 13, 14, 0, 21, 22, 0]);
    assert_eq!(&bt.loss_weights[..8], &[0., 1., 1., 1., 0., 1., 1., 0.]);
    assert_eq!(&bt.position_ids[..8], &[0, 1, 2, 3, 4, 0, 1, 2]);
    assert_eq!(&bt.window_start[..8], &[0, 0, 0, 0, 0, 5, 5, 5]);
    assert_eq!(&bt.input_ids[8..16], &[30, 31, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&bt.loss_weights[8..16], &[1., 0., 0., 0., 0., 0., 0., 0.]);
    assert_eq!(&bt.window_start[8..16], &[0, 0, 2, 3, 4, 5, 6, 7]);
    assert_eq!(&bt.position_ids[8..16], &[0, 1, 0, 0, 0, 0, 0, 0]);
    // Row 2 is all padding.
    assert!(bt.loss_weights[16..].iter().all(|&w| w == 0.0));
    assert_eq!(&bt.window_start[16..], &[0, 1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(bt.trained_tokens, 6);
    let total: f32 = bt.loss_weights.iter().sum();
    assert_eq!(total as usize, bt.trained_tokens);
    assert!(make_batches(&exs, &rows, 0, 8, 0).is_err());
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn truncation_counts_and_skips() {
    let m = smol();
    let opts = DatasetOptions {
        max_tokens: Some(40),
        ..Default::default()
    };
    let ds = Dataset::from_bytes(MESSAGES, &m, &opts).unwrap();
    let full = load(MESSAGES, &m);
    let cut = full
        .examples
        .iter()
        .filter(|e| e.input_ids.len() > 40)
        .count();
    assert!(cut >= 1);
    assert_eq!(ds.stats.truncated, cut);
    for (a, b) in ds.examples.iter().zip(&full.examples) {
        assert_eq!(a.input_ids[..], b.input_ids[..a.input_ids.len()]);
        assert_eq!(a.full_len, b.input_ids.len());
        assert_eq!(a.truncated(), b.input_ids.len() > 40);
    }
    assert_eq!(ds.stats.longest, full.stats.longest);
    assert_eq!(
        ds.stats.tokens,
        ds.examples.iter().map(|e| e.input_ids.len()).sum::<usize>()
    );
    // Cutting before the first assistant token leaves nothing to train: skipped, reported.
    let opts = DatasetOptions {
        max_tokens: Some(10),
        ..Default::default()
    };
    let err = Dataset::from_bytes(MESSAGES, &m, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 1: no trained token left after truncation to 10 tokens"),
        "{err}"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn dataset_batches_end_to_end() {
    let m = smol();
    let ds = load(MESSAGES, &m);
    let all: Vec<usize> = (0..ds.examples.len()).collect();
    let pad = m.tokenizer.pad_token_id();
    assert_eq!(Some(pad), m.tokenizer.token_to_id("<|im_end|>"));
    let seq = 128;
    let packed = ds.batches(&all, 4, seq, true, pad).unwrap();
    let plain = ds.batches(&all, 4, seq, false, pad).unwrap();
    assert_eq!(packed.len(), 1);
    let trained: usize = ds
        .examples
        .iter()
        .map(|e| e.loss_mask[1..].iter().filter(|&&b| b == 1).count())
        .sum();
    assert_eq!(packed[0].trained_tokens, trained);
    assert_eq!(plain[0].trained_tokens, trained);
    for b in packed.iter().chain(&plain) {
        for i in 0..b.batch * b.seq_len {
            let t = (i % b.seq_len) as u32;
            assert!(b.window_start[i] <= t);
            if b.loss_weights[i] > 0.0 {
                assert_eq!(b.position_ids[i], t - b.window_start[i]);
            }
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn seeded_split_is_deterministic() {
    let a = split_indices(100, 0.1, 7);
    assert_eq!(a, split_indices(100, 0.1, 7));
    assert_ne!(a.eval, split_indices(100, 0.1, 8).eval);
    assert_eq!((a.train.len(), a.eval.len()), (90, 10));
    let mut all: Vec<usize> = a.train.iter().chain(&a.eval).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    assert!(a.eval.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        split_indices(2, 0.01, 0).eval.len(),
        1,
        "at least one eval example"
    );
    assert_eq!(split_indices(3, 1.0, 0).train.len(), 1, "never all eval");
    assert_eq!(split_indices(1, 0.5, 0).eval.len(), 0);
    assert_eq!(split_indices(10, 0.0, 0).eval.len(), 0);
    assert_eq!(split_indices(10, f64::NAN, 0).eval.len(), 0);
}
