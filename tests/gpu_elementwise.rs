//! GPU vs CPU: fill, row and column copies, residual add, bias, column scaling, embedding lookup
//! and SwiGLU forward/backward, on awkward shapes. Runs natively and in browsers.
mod common;
use common::*;
use svdtune::backend::Backend;
use svdtune::backend::cpu::CpuBackend;

const SHAPES: &[(usize, usize)] = &[(1, 1), (1, 257), (3, 5), (67, 129), (300, 7)];

async fn fill_add_bias_mul_cols() {
    let g = gpu().await;
    let c = CpuBackend;
    for (i, &(rows, cols)) in SHAPES.iter().enumerate() {
        let s = 10 * i as u64;
        let (mut xc, mut xg) = both_rand(&c, &g, &[rows, cols], s);
        let (yc, yg) = both_rand(&c, &g, &[rows, cols], s + 1);
        let (bc, bg) = both_rand(&c, &g, &[cols], s + 2);
        c.add_assign(&mut xc, &yc).unwrap();
        g.add_assign(&mut xg, &yg).unwrap();
        assert_same("add_assign", &g, &xg, &xc, 0.0, 0.0).await;
        c.add_bias(&mut xc, &bc).unwrap();
        g.add_bias(&mut xg, &bg).unwrap();
        assert_same("add_bias", &g, &xg, &xc, 0.0, 0.0).await;
        let (mut dc, mut dg) = both_rand(&c, &g, &[rows, cols], s + 3);
        c.mul_cols(&xc, &bc, None, &mut dc).unwrap();
        g.mul_cols(&xg, &bg, None, &mut dg).unwrap();
        assert_same("mul_cols", &g, &dg, &dc, 0.0, 0.0).await;
        // With a second vector (the SVD layer's Σ + (−Σ₀)): the sum is formed in f32 first.
        let (ac, ag) = both_rand(&c, &g, &[cols], s + 4);
        c.mul_cols(&xc, &bc, Some(&ac), &mut dc).unwrap();
        g.mul_cols(&xg, &bg, Some(&ag), &mut dg).unwrap();
        assert_same("mul_cols with s_add", &g, &dg, &dc, 0.0, 0.0).await;
        c.fill(&mut dc, -2.5).unwrap();
        g.fill(&mut dg, -2.5).unwrap();
        assert_same("fill", &g, &dg, &dc, 0.0, 0.0).await;
        // Zero is a buffer clear on the GPU.
        c.fill(&mut dc, 0.0).unwrap();
        g.fill(&mut dg, 0.0).unwrap();
        assert_same("fill 0", &g, &dg, &dc, 0.0, 0.0).await;
    }
}
gpu_test!(fill_add_bias_mul_cols_match_cpu, fill_add_bias_mul_cols);

async fn row_and_column_copies() {
    let g = gpu().await;
    let c = CpuBackend;
    // A fused qkv projection [T, 5·8] split into q [T, 3·8] and k [T, 8], then joined back.
    let t = 9;
    let (fc, fg) = both_rand(&c, &g, &[t, 40], 1);
    let (mut qc, mut qg) = both_rand(&c, &g, &[t, 24], 2);
    let (mut kc, mut kg) = both_rand(&c, &g, &[t, 8], 3);
    c.copy_cols(&fc, 0, &mut qc, 0, 24).unwrap();
    g.copy_cols(&fg, 0, &mut qg, 0, 24).unwrap();
    c.copy_cols(&fc, 32, &mut kc, 0, 8).unwrap();
    g.copy_cols(&fg, 32, &mut kg, 0, 8).unwrap();
    assert_same("copy_cols q", &g, &qg, &qc, 0.0, 0.0).await;
    assert_same("copy_cols k", &g, &kg, &kc, 0.0, 0.0).await;
    let (mut jc, mut jg) = both_rand(&c, &g, &[t, 40], 4);
    c.copy_cols(&kc, 3, &mut jc, 17, 5).unwrap();
    g.copy_cols(&kg, 3, &mut jg, 17, 5).unwrap();
    assert_same("copy_cols join", &g, &jg, &jc, 0.0, 0.0).await;
    // Rows: a chunk of a [T, C] tensor out and back (cross-entropy chunking).
    let (mut chc, mut chg) = both_rand(&c, &g, &[4, 40], 5);
    c.copy_rows(&fc, 5, &mut chc, 0, 4).unwrap();
    g.copy_rows(&fg, 5, &mut chg, 0, 4).unwrap();
    assert_same("copy_rows out", &g, &chg, &chc, 0.0, 0.0).await;
    c.copy_rows(&chc, 1, &mut jc, 0, 3).unwrap();
    g.copy_rows(&chg, 1, &mut jg, 0, 3).unwrap();
    assert_same("copy_rows back", &g, &jg, &jc, 0.0, 0.0).await;
    let err = g.copy_cols(&fg, 38, &mut kg, 0, 8).unwrap_err().to_string();
    assert!(
        err.contains("copy_cols") && err.contains("out of range"),
        "{err}"
    );
    let err = g.copy_rows(&fg, 7, &mut chg, 0, 4).unwrap_err().to_string();
    assert!(
        err.contains("copy_rows") && err.contains("out of range"),
        "{err}"
    );
}
gpu_test!(row_and_column_copies_match_cpu, row_and_column_copies);

async fn embedding_lookup() {
    let g = gpu().await;
    let c = CpuBackend;
    for &(vocab, cols) in &[(1, 1), (50, 3), (1000, 65)] {
        let (tc, tg) = both_rand(&c, &g, &[vocab, cols], vocab as u64);
        // Repeated ids, the last id, and one id past the table (zero row).
        let ids: Vec<u32> = vec![0, (vocab - 1) as u32, 0, vocab as u32, (vocab / 2) as u32];
        let (ic, ig) = (c.ids(&ids).unwrap(), g.ids(&ids).unwrap());
        let (mut oc, mut og) = both_rand(&c, &g, &[ids.len(), cols], 9);
        c.embedding(&tc, &ic, &mut oc).unwrap();
        g.embedding(&tg, &ig, &mut og).unwrap();
        assert_same("embedding", &g, &og, &oc, 0.0, 0.0).await;
        assert!(oc.data[3 * cols..4 * cols].iter().all(|&v| v == 0.0));
    }
}
gpu_test!(embedding_lookup_matches_cpu, embedding_lookup);

async fn swiglu() {
    let g = gpu().await;
    let c = CpuBackend;
    for (i, &(rows, cols)) in SHAPES.iter().enumerate() {
        let s = 100 + 10 * i as u64;
        let n = rows * cols;
        // Gates from −30 to 30: exp saturates at both ends.
        let gate = rand_range(n, s, -30.0, 30.0);
        let (gc, gg) = both(&c, &g, &gate, &[rows, cols]);
        let (uc, ug) = both_rand(&c, &g, &[rows, cols], s + 1);
        let (dc, dg) = both_rand(&c, &g, &[rows, cols], s + 2);
        let (mut oc, mut og) = both_rand(&c, &g, &[rows, cols], s + 3);
        c.swiglu_forward(&gc, &uc, &mut oc).unwrap();
        g.swiglu_forward(&gg, &ug, &mut og).unwrap();
        assert_same("swiglu_forward", &g, &og, &oc, 1e-6, 1e-5).await;
        let (mut dgc, mut dgg) = both_rand(&c, &g, &[rows, cols], s + 4);
        let (mut duc, mut dug) = both_rand(&c, &g, &[rows, cols], s + 5);
        c.swiglu_backward(&gc, &uc, &dc, &mut dgc, &mut duc)
            .unwrap();
        g.swiglu_backward(&gg, &ug, &dg, &mut dgg, &mut dug)
            .unwrap();
        assert_same("swiglu dgate", &g, &dgg, &dgc, 1e-6, 1e-5).await;
        assert_same("swiglu dup", &g, &dug, &duc, 1e-6, 1e-5).await;
    }
}
gpu_test!(swiglu_matches_cpu, swiglu);

async fn geglu() {
    let g = gpu().await;
    let c = CpuBackend;
    for (i, &(rows, cols)) in SHAPES.iter().enumerate() {
        let s = 300 + 10 * i as u64;
        let n = rows * cols;
        // Gates from −30 to 30: tanh saturates at both ends (x³ reaches 27 000).
        let gate = rand_range(n, s, -30.0, 30.0);
        let (gc, gg) = both(&c, &g, &gate, &[rows, cols]);
        let (uc, ug) = both_rand(&c, &g, &[rows, cols], s + 1);
        let (dc, dg) = both_rand(&c, &g, &[rows, cols], s + 2);
        let (mut oc, mut og) = both_rand(&c, &g, &[rows, cols], s + 3);
        c.geglu_forward(&gc, &uc, &mut oc).unwrap();
        g.geglu_forward(&gg, &ug, &mut og).unwrap();
        assert!(oc.data.iter().all(|v| v.is_finite()));
        assert_same("geglu_forward", &g, &og, &oc, 1e-6, 1e-5).await;
        let (mut dgc, mut dgg) = both_rand(&c, &g, &[rows, cols], s + 4);
        let (mut duc, mut dug) = both_rand(&c, &g, &[rows, cols], s + 5);
        c.geglu_backward(&gc, &uc, &dc, &mut dgc, &mut duc).unwrap();
        g.geglu_backward(&gg, &ug, &dg, &mut dgg, &mut dug).unwrap();
        assert_same("geglu dgate", &g, &dgg, &dgc, 1e-6, 1e-5).await;
        assert_same("geglu dup", &g, &dug, &duc, 1e-6, 1e-5).await;
    }
}
gpu_test!(geglu_matches_cpu, geglu);
