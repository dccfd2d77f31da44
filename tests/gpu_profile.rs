//! The time per kernel (`svdtune bench`'s profile): both clocks time every dispatch of the
//! profiled work once, per kernel and with its dispatch count, and leave the results unchanged.
//! GPU timestamps where the adapter has them; the wall clock natively (in browsers it has none).
//! Runs natively and in browsers.
mod common;
use common::*;
use svdtune::backend::gpu::{GpuBackend, KernelClock};
use svdtune::backend::{Backend, Matmul};

/// Three products and a sum of their outputs, read back.
async fn work(g: &GpuBackend) -> Vec<f32> {
    let a = g.tensor(&rand_vec(256 * 192, 1), &[256, 192]).unwrap();
    let b = g.tensor(&rand_vec(192 * 256, 2), &[192, 256]).unwrap();
    let mut c = g.zeros(&[256, 256]).unwrap();
    g.matmul(&a, &b, &mut c, Matmul::NN).unwrap();
    let mut d = g.zeros(&[192, 192]).unwrap();
    g.matmul(&a, &a, &mut d, Matmul::TN).unwrap();
    let mut e = g.zeros(&[256, 256]).unwrap();
    g.matmul(&b, &b, &mut e, Matmul::TN).unwrap();
    g.add_assign(&mut c, &e).unwrap();
    let mut out = g.read(&c).await.unwrap();
    out.extend(g.read(&d).await.unwrap());
    out
}

async fn profile_clocks() {
    let g = gpu().await;
    assert!(g.take_profile().await.unwrap().is_none(), "no profile open");
    let _ = g.take_dispatch_counts();
    let plain = work(&g).await;
    let dispatched = g.take_dispatch_counts();
    let total: u64 = dispatched.iter().map(|d| d.1).sum();
    assert!(total >= 4, "dispatches: {dispatched:?}");

    let best = g.start_profile(1000).unwrap();
    let has_timestamps = best == Some(KernelClock::Timestamps);
    let _ = g.take_profile().await.unwrap();
    let native = !cfg!(target_arch = "wasm32");
    if !has_timestamps {
        assert_eq!(
            best.is_some(),
            native,
            "the wall clock natively, no clock in browsers"
        );
    }
    for (clock, available) in [
        (KernelClock::Timestamps, has_timestamps),
        (KernelClock::WallClock, native),
    ] {
        assert_eq!(
            g.start_profile_with(1000, clock).unwrap(),
            available,
            "{clock:?}"
        );
        if !available {
            assert!(g.take_profile().await.unwrap().is_none());
            continue;
        }
        let profiled = work(&g).await;
        assert_eq!(profiled, plain, "{clock:?}: results unchanged");
        let counts = g.take_dispatch_counts();
        let times = g.take_profile().await.unwrap().expect("profile");
        assert_eq!(counts, dispatched, "{clock:?}");
        for (kernel, n) in &counts {
            let t = times.iter().find(|t| t.kernel == *kernel);
            assert!(
                t.is_some_and(|t| t.dispatches == *n && t.ms.is_finite() && t.ms >= 0.0),
                "{clock:?} {kernel}: {t:?}"
            );
        }
        assert_eq!(times.len(), counts.len(), "{clock:?}: {times:?}");
        assert!(times[0].ms > 0.0, "{clock:?}: {times:?}");
        assert!(
            times.windows(2).all(|w| w[0].ms >= w[1].ms),
            "longest first"
        );

        // A profile for fewer dispatches times the first ones only.
        assert!(g.start_profile_with(2, clock).unwrap());
        let _ = work(&g).await;
        let _ = g.take_dispatch_counts();
        let times = g.take_profile().await.unwrap().expect("profile");
        let timed: u64 = times.iter().map(|t| t.dispatches).sum();
        assert_eq!(timed, 2, "{clock:?}: {times:?}");
    }
}
gpu_test!(profile_clocks_time_every_dispatch, profile_clocks);
