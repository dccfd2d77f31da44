//! Host rotary tables (`svdtune::model::rope`): reference values derived by hand for the default
//! variant, the Llama 3 frequency bands, longrope factor selection and attention scaling, the
//! linear variant, and errors for invalid configs.
#![cfg(not(target_arch = "wasm32"))]

use svdtune::model::rope::{RopeConfig, RopeScaling, RopeScalingFields, inv_freq, tables};

fn cfg(head_dim: usize, theta: f64, scaling: RopeScaling) -> RopeConfig {
    RopeConfig {
        head_dim,
        theta,
        max_position_embeddings: 131072,
        scaling,
    }
}

/// `|got − want| ≤ ulps · ulp(want)` in f32.
fn assert_ulps(what: &str, got: f32, want: f64, ulps: f32) {
    let w = want as f32;
    let ulp = f32::from_bits(w.abs().to_bits() + 1) - w.abs();
    assert!(
        ((got as f64) - want).abs() <= (ulps * ulp) as f64,
        "{what}: got {got:e}, want {want:e} (±{ulps} ulp = {:e})",
        ulps * ulp
    );
}

#[test]
fn default_frequencies_and_tables_match_hand_values() {
    let c = cfg(8, 10000.0, RopeScaling::None);
    // 10000^(0, 1/4, 1/2, 3/4) = 1, 10, 100, 1000, all exact in f32.
    let (inv, scale) = inv_freq(&c, 16).unwrap();
    assert_eq!(inv, vec![1.0, 0.1, 0.01, 0.001]);
    assert_eq!(scale, 1.0);
    let t = tables(&c, 5).unwrap();
    assert_eq!(
        (t.positions, t.half, t.cos.len(), t.sin.len()),
        (5, 4, 20, 20)
    );
    assert_eq!(&t.cos[..4], &[1.0; 4]);
    assert_eq!(&t.sin[..4], &[0.0; 4]);
    let cos3 = [
        -0.989_992_496_600_445_4,
        0.955_336_489_125_606,
        0.999_550_033_748_987_5,
        0.999_995_500_003_375,
    ];
    let sin3 = [
        0.141_120_008_059_867_2,
        0.295_520_206_661_339_55,
        0.029_995_500_202_495_66,
        0.002_999_995_500_002_025,
    ];
    for i in 0..4 {
        assert!(
            (t.cos[3 * 4 + i] as f64 - cos3[i]).abs() < 1e-7,
            "cos[3, {i}] = {}",
            t.cos[3 * 4 + i]
        );
        assert!(
            (t.sin[3 * 4 + i] as f64 - sin3[i]).abs() < 1e-7,
            "sin[3, {i}] = {}",
            t.sin[3 * 4 + i]
        );
    }
}

#[test]
fn default_frequencies_follow_float32_formula() {
    // Exponents that are exact in f32 give the correctly rounded power:
    // 500000^(1/2) = 707.10678..., 500000^(1/4) = 26.591479...
    let (inv, _) = inv_freq(&cfg(128, 500000.0, RopeScaling::None), 1).unwrap();
    assert_eq!(inv.len(), 64);
    assert_eq!(inv[0], 1.0);
    assert_eq!(inv[32], 1.0f32 / (707.106_781_186_547_6_f64 as f32));
    assert_eq!(inv[16], 1.0f32 / (26.591_479_484_724_942_f64 as f32));
    // Every entry: 1 / theta^e with the f32 exponent e = f32(2i) / f32(D). Two f32 roundings
    // (the power, then its reciprocal) put the result within 2 ulp of the exact value.
    for (d, theta) in [
        (128usize, 500000.0f64),
        (96, 10000.0),
        (64, 1e6),
        (80, 10000.0),
    ] {
        let (inv, _) = inv_freq(&cfg(d, theta, RopeScaling::None), 1).unwrap();
        for (i, &f) in inv.iter().enumerate() {
            let e = (2 * i) as f32 / d as f32;
            assert_ulps(
                &format!("D={d} theta={theta} inv_freq[{i}]"),
                f,
                1.0 / theta.powf(e as f64),
                2.0,
            );
        }
    }
}

#[test]
fn table_angles_are_float32_products() {
    // The angle is the f32 product p · inv_freq (as PyTorch's float32 matmul gives it), so at a
    // large position the table follows the rounded angle, not the exact one.
    let c = cfg(96, 10000.0, RopeScaling::None);
    let (inv, _) = inv_freq(&c, 1).unwrap();
    let t = tables(&c, 5000).unwrap();
    let p = 4999usize;
    for i in [1usize, 7, 30, 47] {
        let angle = (p as f32 * inv[i]) as f64;
        assert_ulps(
            &format!("cos[{p}, {i}]"),
            t.cos[p * 48 + i],
            angle.cos(),
            1.0,
        );
        assert_ulps(
            &format!("sin[{p}, {i}]"),
            t.sin[p * 48 + i],
            angle.sin(),
            1.0,
        );
    }
}

fn llama3() -> RopeScaling {
    RopeScaling::Llama3 {
        factor: 8.0,
        low_freq_factor: 1.0,
        high_freq_factor: 4.0,
        original_max_position_embeddings: 8192,
    }
}

#[test]
fn llama3_bands() {
    // Llama 3.1: D = 128, theta = 500000. wavelen_i = 2π · 500000^(i/64):
    // i ≤ 28 → wavelen < 8192/4 (kept), i ≥ 35 → wavelen > 8192/1 (divided by 8), between: smoothed.
    let (base, _) = inv_freq(&cfg(128, 500000.0, RopeScaling::None), 1).unwrap();
    let (scaled, scale) = inv_freq(&cfg(128, 500000.0, llama3()), 1).unwrap();
    assert_eq!(scale, 1.0);
    for i in 0..64 {
        let (b, s) = (base[i], scaled[i]);
        match i {
            0..=28 => assert_eq!(s, b, "high-frequency component {i} must be unchanged"),
            35..=63 => assert_eq!(
                s,
                b / 8.0,
                "low-frequency component {i} must be divided by the factor"
            ),
            _ => {
                let wavelen = 2.0 * std::f64::consts::PI / b as f64;
                let smooth = (8192.0 / wavelen - 1.0) / 3.0;
                assert!(
                    smooth > 0.0 && smooth < 1.0,
                    "component {i} is in the middle band"
                );
                let want = (1.0 - smooth) * b as f64 / 8.0 + smooth * b as f64;
                assert!(
                    s > b / 8.0 && s < b,
                    "component {i}: {s} not strictly between {} and {b}",
                    b / 8.0
                );
                assert!(
                    ((s as f64) - want).abs() <= 4e-6 * want,
                    "component {i}: {s} vs {want}"
                );
            }
        }
    }
    // The interpolation is monotone across the band: smooth factor grows with frequency.
    let ratio: Vec<f32> = (29..=34).map(|i| scaled[i] / base[i]).collect();
    assert!(ratio.windows(2).all(|w| w[0] > w[1]), "{ratio:?}");
}

fn longrope(attention_factor: Option<f64>, factor: Option<f64>) -> RopeScaling {
    RopeScaling::LongRope {
        short_factor: vec![1.0, 1.5, 2.0, 2.5],
        long_factor: vec![4.0, 5.0, 6.0, 8.0],
        original_max_position_embeddings: 4096,
        factor,
        attention_factor,
    }
}

#[test]
fn longrope_short_long_selection_and_mscale() {
    let c = cfg(8, 10000.0, longrope(None, None));
    // 131072 / 4096 = 32: mscale = sqrt(1 + ln 32 / ln 4096) = sqrt(1 + 5/12) = sqrt(17/12).
    let mscale = (17.0f64 / 12.0).sqrt();
    let (short, s1) = inv_freq(&c, 4096).unwrap();
    let (long, s2) = inv_freq(&c, 4097).unwrap();
    assert_eq!((s1, s2), (mscale as f32, mscale as f32));
    let powers = [1.0f32, 10.0, 100.0, 1000.0];
    let (sf, lf) = ([1.0f32, 1.5, 2.0, 2.5], [4.0f32, 5.0, 6.0, 8.0]);
    for i in 0..4 {
        assert_eq!(short[i], 1.0 / (sf[i] * powers[i]), "short inv_freq[{i}]");
        assert_eq!(long[i], 1.0 / (lf[i] * powers[i]), "long inv_freq[{i}]");
    }
    assert_eq!(short[1], 1.0 / 15.0);
    assert_eq!(long[3], 1.0 / 8000.0);
    // Tables are scaled by mscale: position 0 gives cos = mscale, sin = 0.
    let t = tables(&c, 3).unwrap();
    assert_eq!(t.attention_scaling, mscale as f32);
    assert_eq!(&t.cos[..4], &[mscale as f32; 4]);
    assert_eq!(&t.sin[..4], &[0.0; 4]);
    let angle = 2.0f32 * short[1];
    assert!((t.cos[2 * 4 + 1] as f64 - (angle as f64).cos() * mscale).abs() < 2e-7);
    assert!((t.sin[2 * 4 + 1] as f64 - (angle as f64).sin() * mscale).abs() < 2e-7);
    // cos² + sin² = mscale² everywhere.
    for (c, s) in t.cos.iter().zip(&t.sin) {
        assert!(((c * c + s * s) as f64 - mscale * mscale).abs() < 1e-6);
    }
}

#[test]
fn longrope_attention_factor_variants() {
    // Given attention_factor wins.
    let (_, s) = inv_freq(&cfg(8, 10000.0, longrope(Some(1.25), None)), 10).unwrap();
    assert_eq!(s, 1.25);
    // An explicit factor replaces max/original: sqrt(1 + ln 4 / ln 4096) = sqrt(7/6).
    let (_, s) = inv_freq(&cfg(8, 10000.0, longrope(None, Some(4.0))), 10).unwrap();
    assert_eq!(s, (7.0f64 / 6.0).sqrt() as f32);
    // max_position_embeddings = original: factor 1, no scaling.
    let c = RopeConfig {
        max_position_embeddings: 4096,
        ..cfg(8, 10000.0, longrope(None, None))
    };
    let (_, s) = inv_freq(&c, 10).unwrap();
    assert_eq!(s, 1.0);
}

#[test]
fn linear_divides_frequencies() {
    let (inv, s) = inv_freq(&cfg(8, 10000.0, RopeScaling::Linear { factor: 4.0 }), 1).unwrap();
    assert_eq!(inv, vec![0.25, 0.1 / 4.0, 0.01 / 4.0, 0.001 / 4.0]);
    assert_eq!(s, 1.0);
}

#[test]
fn invalid_configs_are_errors() {
    let bad = [
        (cfg(7, 10000.0, RopeScaling::None), "head_dim"),
        (cfg(0, 10000.0, RopeScaling::None), "head_dim"),
        (cfg(8, 0.0, RopeScaling::None), "rope_theta"),
        (cfg(8, -5.0, RopeScaling::None), "rope_theta"),
        (cfg(8, f64::NAN, RopeScaling::None), "rope_theta"),
        (cfg(8, 1e300, RopeScaling::None), "rope_theta"),
        (
            cfg(8, 10000.0, RopeScaling::Linear { factor: 0.0 }),
            "factor",
        ),
        (
            cfg(
                8,
                10000.0,
                RopeScaling::Llama3 {
                    factor: 8.0,
                    low_freq_factor: 4.0,
                    high_freq_factor: 4.0,
                    original_max_position_embeddings: 8192,
                },
            ),
            "high_freq_factor",
        ),
        (
            cfg(
                8,
                10000.0,
                RopeScaling::Llama3 {
                    factor: 8.0,
                    low_freq_factor: 1.0,
                    high_freq_factor: 4.0,
                    original_max_position_embeddings: 0,
                },
            ),
            "original_max_position_embeddings",
        ),
        (
            cfg(
                8,
                10000.0,
                RopeScaling::LongRope {
                    short_factor: vec![1.0; 3],
                    long_factor: vec![1.0; 4],
                    original_max_position_embeddings: 4096,
                    factor: None,
                    attention_factor: None,
                },
            ),
            "short_factor has 3 entries",
        ),
        (
            cfg(
                8,
                10000.0,
                RopeScaling::LongRope {
                    short_factor: vec![1.0; 4],
                    long_factor: vec![1.0, 1.0, -1.0, 1.0],
                    original_max_position_embeddings: 4096,
                    factor: None,
                    attention_factor: None,
                },
            ),
            "long_factor",
        ),
        (
            cfg(8, 10000.0, longrope(Some(f64::INFINITY), None)),
            "attention_factor",
        ),
    ];
    for (c, needle) in bad {
        let err = inv_freq(&c, 8).unwrap_err().to_string();
        assert!(
            err.contains(needle),
            "{c:?}: error {err:?} should mention {needle:?}"
        );
        assert!(tables(&c, 8).is_err());
    }
}

#[test]
fn rope_scaling_from_hf_fields() {
    assert_eq!(RopeScaling::from_hf(None).unwrap(), RopeScaling::None);
    let f = |t: &str| RopeScalingFields {
        rope_type: Some(t.into()),
        ..Default::default()
    };
    assert_eq!(
        RopeScaling::from_hf(Some(&f("default"))).unwrap(),
        RopeScaling::None
    );
    let llama = RopeScalingFields {
        factor: Some(8.0),
        low_freq_factor: Some(1.0),
        high_freq_factor: Some(4.0),
        original_max_position_embeddings: Some(8192),
        ..f("llama3")
    };
    assert_eq!(RopeScaling::from_hf(Some(&llama)).unwrap(), llama3());
    let phi = RopeScalingFields {
        short_factor: Some(vec![1.0, 1.5, 2.0, 2.5]),
        long_factor: Some(vec![4.0, 5.0, 6.0, 8.0]),
        original_max_position_embeddings: Some(4096),
        ..f("su")
    };
    assert_eq!(
        RopeScaling::from_hf(Some(&phi)).unwrap(),
        longrope(None, None)
    );
    assert_eq!(
        RopeScaling::from_hf(Some(&RopeScalingFields {
            rope_type: Some("longrope".into()),
            ..phi
        }))
        .unwrap(),
        longrope(None, None)
    );
    let err = RopeScaling::from_hf(Some(&RopeScalingFields {
        low_freq_factor: None,
        ..llama
    }))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("llama3") && err.contains("low_freq_factor"),
        "{err}"
    );
    for t in ["dynamic", "yarn", "ntk", "made-up"] {
        let err = RopeScaling::from_hf(Some(&RopeScalingFields {
            factor: Some(2.0),
            ..f(t)
        }))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&format!("\"{t}\""))
                && err.contains("llama3")
                && err.contains("longrope")
                && err.contains("linear"),
            "{err}"
        );
    }
}
