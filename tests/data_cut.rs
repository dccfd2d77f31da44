//! A dataset read once with a long cut and then cut shorter ([`Dataset::cut`], what the page's
//! engine does when the sequence length changes) equals the dataset read with the shorter cut:
//! the same examples, ids, masks, statistics and skips; and the length percentile comes from the
//! untruncated lengths. Runs natively and in headless Chromium.
mod data_common;

use data_common::*;
use svdtune::data::{Dataset, DatasetOptions};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const RECORDS: &[u8] = include_bytes!("fixtures/data/golden_records.jsonl");

fn read(bytes: &[u8], max: usize) -> Option<Dataset> {
    let opts = DatasetOptions {
        max_tokens: Some(max),
        ..DatasetOptions::default()
    };
    Dataset::from_bytes(bytes, &smol(), &opts).ok()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn cutting_equals_reading_with_the_shorter_cut() {
    let long = read(RECORDS, 4096).unwrap();
    assert!(long.examples.len() >= 5, "{:?}", long.skips);
    assert_eq!(long.stats.truncated, 0);
    let lens: Vec<usize> = long.examples.iter().map(|e| e.full_len).collect();
    let mut sorted = lens.clone();
    sorted.sort_unstable();
    // Cuts below, inside and above the lengths, and one that leaves examples without a trained
    // token (the assistant turn starts after it).
    let mut cut_some = false;
    for max in [
        sorted[0] / 2,
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1] + 1,
        30,
        8,
    ] {
        let (Some(want), Ok(got)) = (read(RECORDS, max), long.cut(max)) else {
            assert!(
                read(RECORDS, max).is_none() && long.cut(max).is_err(),
                "cut to {max}"
            );
            continue;
        };
        cut_some |= got.stats.truncated > 0 && got.stats.skipped > long.stats.skipped;
        assert_eq!(got.stats, want.stats, "cut to {max}");
        assert_eq!(got.skips, want.skips, "cut to {max}");
        assert_eq!(got.examples.len(), want.examples.len());
        for (a, b) in got.examples.iter().zip(&want.examples) {
            assert_eq!(
                (a.line, &a.input_ids, &a.loss_mask, a.full_len),
                (b.line, &b.input_ids, &b.loss_mask, b.full_len)
            );
        }
    }
    assert!(cut_some, "no cut dropped an example: {sorted:?}");
    assert_eq!(long.length_percentile(1.0), sorted[sorted.len() - 1]);
    assert_eq!(long.length_percentile(0.0), sorted[0]);
    let p95 = long.length_percentile(0.95);
    let fit = lens.iter().filter(|&&l| l <= p95).count();
    assert!(fit as f64 >= 0.95 * lens.len() as f64, "{p95} {lens:?}");
    assert!(long.cut(0).is_err());
}
