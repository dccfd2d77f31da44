//! Exports for bench.mjs: `alloc(n)` (f32 buffers in the module's memory) and `run(which, m, k,
//! n, ta, tb, a, b, c, beta, reps)`: `reps` products `C = A·B + beta·C` by the engine's kernel
//! (`which` 0) or matrixmultiply's (1); `ta`/`tb`: A stored `[k, m]`, B stored `[n, k]` (Wᵀ).

/// The `Strides` type the kernel's module imports from its parent.
mod blas {
    #[derive(Clone, Copy)]
    pub struct Strides {
        pub row: isize,
        pub col: isize,
    }
}
#[path = "../../../src/backend/cpu/simd128.rs"]
mod simd128;
use blas::Strides;

#[unsafe(no_mangle)]
pub extern "C" fn alloc(n: usize) -> *mut f32 {
    let mut v = vec![0.0f32; n];
    let p = v.as_mut_ptr();
    std::mem::forget(v);
    p
}

/// # Safety
/// `a`, `b`, `c` come from `alloc` with room for `[m, k]`, `[k, n]`, `[m, n]`.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn run(
    which: u32,
    m: usize,
    k: usize,
    n: usize,
    ta: u32,
    tb: u32,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    beta: f32,
    reps: u32,
) {
    let sa = if ta != 0 {
        Strides {
            row: 1,
            col: m as isize,
        }
    } else {
        Strides {
            row: k as isize,
            col: 1,
        }
    };
    let sb = if tb != 0 {
        Strides {
            row: 1,
            col: k as isize,
        }
    } else {
        Strides {
            row: n as isize,
            col: 1,
        }
    };
    let sc = Strides {
        row: n as isize,
        col: 1,
    };
    for _ in 0..reps {
        unsafe {
            if which == 0 {
                simd128::sgemm((m, k, n), 1.0, (a, sa), (b, sb), beta, beta != 0.0, (c, sc));
            } else {
                matrixmultiply::sgemm(
                    m, k, n, 1.0, a, sa.row, sa.col, b, sb.row, sb.col, beta, c, sc.row, sc.col,
                );
            }
        }
    }
}

/// The ceiling the kernel works under: `reps` rounds of 12 independent `f32x4` multiply-adds
/// (fused with relaxed SIMD, else a multiply and an add), no memory traffic. 12 chains cover
/// the latency of two FMA ports; the result keeps the loop from being optimised away.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn peak(reps: u32, seed: f32) -> f32 {
    use core::arch::wasm32::*;
    let (x, y) = (f32x4_splat(seed), f32x4_splat(0.999));
    let mut acc: [v128; 12] = core::array::from_fn(|i| f32x4_splat(i as f32));
    for _ in 0..reps {
        for a in acc.iter_mut() {
            #[cfg(target_feature = "relaxed-simd")]
            {
                *a = f32x4_relaxed_madd(*a, y, x);
            }
            #[cfg(not(target_feature = "relaxed-simd"))]
            {
                *a = f32x4_add(f32x4_mul(*a, y), x);
            }
        }
    }
    let sum = acc.iter().fold(f32x4_splat(0.0), |s, &a| f32x4_add(s, a));
    f32x4_extract_lane::<0>(sum)
}
