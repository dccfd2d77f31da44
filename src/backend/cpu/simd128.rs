//! The wasm CPU engine's f32 matrix product on one thread: BLIS-style blocking (B packed in
//! panels of `NR` columns over `KC` rows, A in panels of `MR` rows) around a register-tiled
//! `MR × NR` micro-kernel in simd128, and a narrower one for a last panel of 1–4 columns.
//!
//! The tile is sized for the compilers that run it, not for the ISA: V8 gives wasm code 15 of
//! x86-64's 16 xmm registers (one is its scratch), so the accumulators, B's vectors, A's
//! broadcast and the product of a `mul` waiting for its `add` must fit 15, or every depth step
//! spills to the stack. `4 × 8` uses 12 (8 accumulators); `6 × 8` and `8 × 8` (matrixmultiply's
//! tile) spill and ran at 24 and 31 GFLOP/s in V8 against this tile's 35 (`bench/wasm_gemm`).
//! A's values are broadcast straight from the packed panel (`v128.load32_splat`, one
//! `vbroadcastss`) and alpha is folded into A while packing. Built with `relaxed-simd`
//! (`f32x4.relaxed_madd`, a fused multiply-add where the CPU has one), each step is one
//! instruction instead of two: 45 GFLOP/s in V8 on the same products.
#![cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use core::arch::wasm32::*;
use std::cell::RefCell;

use super::blas::Strides;

/// Rows of C per micro-kernel call.
const MR: usize = 4;
/// Columns of C per micro-kernel call (two f32x4).
const NR: usize = 8;
/// Depth of one packed block (A's panel `MR × KC` and B's `KC × NR` stay in L1).
const KC: usize = 256;
/// Rows of A packed at once (a multiple of `MR`; `MC × KC` floats stay in L2).
const MC: usize = 120;
/// Widest ragged last panel that [`narrow`] computes instead of a padded `MR × NR` tile.
const NARROW: usize = 4;
/// Columns of B packed at once (a multiple of `NR`; `KC × NC` floats stay in L2/L3).
const NC: usize = 1024;

thread_local! {
    /// Packing buffers of this thread (A: `MC × KC`, B: `KC × NC`), kept between products.
    static PACKS: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// `C = alpha · A · B + beta · C` (C not read unless `read_c`); A `[m, k]`, B `[k, n]`, C `[m, n]`.
///
/// # Safety
/// Every element reachable through the dimensions and strides lies inside its allocation, and C
/// overlaps neither A nor B.
#[allow(clippy::too_many_arguments)]
pub unsafe fn sgemm(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    (a, sa): (*const f32, Strides),
    (b, sb): (*const f32, Strides),
    beta: f32,
    read_c: bool,
    (c, sc): (*mut f32, Strides),
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 || alpha == 0.0 {
        // Only beta · C is left.
        for i in 0..m {
            for j in 0..n {
                let p = unsafe { c.offset(i as isize * sc.row + j as isize * sc.col) };
                unsafe { *p = if read_c { beta * *p } else { 0.0 } };
            }
        }
        return;
    }
    PACKS.with_borrow_mut(|(ap, bp)| {
        let b_len = KC * n.min(NC).next_multiple_of(NR);
        let a_len = KC * m.min(MC).next_multiple_of(MR);
        if bp.len() < b_len {
            bp.resize(b_len, 0.0);
        }
        if ap.len() < a_len {
            ap.resize(a_len, 0.0);
        }
        for jc in (0..n).step_by(NC) {
            let nc = NC.min(n - jc);
            for pc in (0..k).step_by(KC) {
                let kc = KC.min(k - pc);
                // The first depth block writes C (scaled by beta when read); later ones add.
                let store = match (pc == 0, read_c) {
                    (false, _) => Store::Add,
                    (true, true) => Store::Scale(beta),
                    (true, false) => Store::Set,
                };
                let b_at = unsafe { b.offset(pc as isize * sb.row + jc as isize * sb.col) };
                unsafe { pack_b(bp, b_at, sb, kc, nc) };
                for ic in (0..m).step_by(MC) {
                    let mc = MC.min(m - ic);
                    let a_at = unsafe { a.offset(ic as isize * sa.row + pc as isize * sa.col) };
                    unsafe { pack_a(ap, a_at, sa, mc, kc, alpha) };
                    for jr in (0..nc).step_by(NR) {
                        let cols = NR.min(nc - jr);
                        let b_panel = bp[jr * kc..].as_ptr();
                        // Row `ir` of this block of C at this panel's first column.
                        let c_at = |ir: usize| unsafe {
                            c.offset((ic + ir) as isize * sc.row + (jc + jr) as isize * sc.col)
                        };
                        if cols <= NARROW {
                            // The ragged last panel (66 columns: 2 past 64): no padded columns.
                            for ir in (0..mc).step_by(2 * MR) {
                                let (rows, a_panel) =
                                    ((2 * MR).min(mc - ir), ap[ir * kc..].as_ptr());
                                let c = (c_at(ir), sc);
                                unsafe { narrow(kc, a_panel, b_panel, c, (rows, cols), store) };
                            }
                            continue;
                        }
                        for ir in (0..mc).step_by(MR) {
                            let (rows, a_panel) = (MR.min(mc - ir), ap[ir * kc..].as_ptr());
                            let c = (c_at(ir), sc);
                            unsafe { tile(kc, a_panel, b_panel, c, (rows, cols), store) };
                        }
                    }
                }
            }
        }
    });
}

/// How a tile's product lands in C.
#[derive(Clone, Copy)]
enum Store {
    /// `C = AB`.
    Set,
    /// `C = AB + beta · C`.
    Scale(f32),
    /// `C += AB`.
    Add,
}

impl Store {
    /// The new value of one element of C, `old`, given its product `v`.
    #[inline(always)]
    fn apply(self, v: f32, old: f32) -> f32 {
        match self {
            Store::Set => v,
            Store::Scale(beta) => v + beta * old,
            Store::Add => v + old,
        }
    }
}

/// Packs `B[0..kc, 0..nc]` (at `b`, strides `sb`) into panels of `NR` columns: panel `p` holds
/// for each depth `kk` the `NR` values `B[kk, p·NR ..]`, zero past `nc`.
unsafe fn pack_b(bp: &mut [f32], b: *const f32, sb: Strides, kc: usize, nc: usize) {
    for (p, j0) in (0..nc).step_by(NR).enumerate() {
        let cols = NR.min(nc - j0);
        let panel = bp[p * kc * NR..(p + 1) * kc * NR].as_mut_ptr();
        let col = |j: usize| unsafe { b.offset((j0 + j) as isize * sb.col) };
        if cols == NR && sb.col == 1 {
            // Rows of B are contiguous: two vectors per depth.
            for kk in 0..kc {
                let src = unsafe { b.offset(kk as isize * sb.row + j0 as isize) };
                unsafe { copy4(src, panel.add(kk * NR)) };
                unsafe { copy4(src.add(4), panel.add(kk * NR + 4)) };
            }
        } else if cols == NR && sb.row == 1 {
            // Columns of B are contiguous (B = Wᵀ, W row-major): 4 depths of each column at a
            // time, transposed in registers, two 4 × 4 blocks per step.
            let quads = kc / 4;
            for t in 0..quads {
                let kk = 4 * t;
                for half in 0..2 {
                    let load =
                        |j: usize| unsafe { v128_load(col(4 * half + j).add(kk) as *const v128) };
                    let rows = transpose4([load(0), load(1), load(2), load(3)]);
                    for (d, v) in rows.into_iter().enumerate() {
                        unsafe { v128_store(panel.add((kk + d) * NR + 4 * half) as *mut v128, v) };
                    }
                }
            }
            for kk in 4 * quads..kc {
                for j in 0..NR {
                    unsafe { *panel.add(kk * NR + j) = *col(j).add(kk) };
                }
            }
        } else {
            // Any strides, or the ragged last panel: element by element, zero past `nc`.
            for j in 0..NR {
                for kk in 0..kc {
                    let v = if j < cols {
                        unsafe { *col(j).offset(kk as isize * sb.row) }
                    } else {
                        0.0
                    };
                    unsafe { *panel.add(kk * NR + j) = v };
                }
            }
        }
    }
}

/// Packs `alpha · A[0..mc, 0..kc]` (at `a`, strides `sa`) into panels of `MR` rows: panel `p`
/// holds for each depth `kk` the `MR` values `A[p·MR .., kk]`, zero past `mc`.
unsafe fn pack_a(ap: &mut [f32], a: *const f32, sa: Strides, mc: usize, kc: usize, alpha: f32) {
    const _: () = assert!(MR == 4, "the vector paths below pack 4 rows");
    let scale = f32x4_splat(alpha);
    for (p, i0) in (0..mc).step_by(MR).enumerate() {
        let rows = MR.min(mc - i0);
        let panel = ap[p * kc * MR..(p + 1) * kc * MR].as_mut_ptr();
        let row = |i: usize| unsafe { a.offset((i0 + i) as isize * sa.row) };
        if rows == MR && sa.row == 1 {
            // Columns of A are contiguous (A stored transposed): one vector per depth.
            for kk in 0..kc {
                let v = unsafe { v128_load(row(0).offset(kk as isize * sa.col) as *const v128) };
                unsafe { v128_store(panel.add(kk * MR) as *mut v128, f32x4_mul(v, scale)) };
            }
        } else if rows == MR && sa.col == 1 {
            // Rows of A are contiguous: 4 depths of the 4 rows at a time, transposed.
            let quads = kc / 4;
            for t in 0..quads {
                let kk = 4 * t;
                let load = |i: usize| unsafe { v128_load(row(i).add(kk) as *const v128) };
                let cols = transpose4([load(0), load(1), load(2), load(3)]);
                for (d, v) in cols.into_iter().enumerate() {
                    unsafe {
                        v128_store(panel.add((kk + d) * MR) as *mut v128, f32x4_mul(v, scale))
                    };
                }
            }
            for kk in 4 * quads..kc {
                for i in 0..MR {
                    unsafe { *panel.add(kk * MR + i) = alpha * *row(i).add(kk) };
                }
            }
        } else {
            for i in 0..MR {
                for kk in 0..kc {
                    let v = if i < rows {
                        alpha * unsafe { *row(i).offset(kk as isize * sa.col) }
                    } else {
                        0.0
                    };
                    unsafe { *panel.add(kk * MR + i) = v };
                }
            }
        }
    }
}

/// Copies 4 floats.
#[inline(always)]
unsafe fn copy4(src: *const f32, dst: *mut f32) {
    unsafe { v128_store(dst as *mut v128, v128_load(src as *const v128)) };
}

/// The transpose of a 4 × 4 block held as 4 row vectors.
#[inline(always)]
fn transpose4([r0, r1, r2, r3]: [v128; 4]) -> [v128; 4] {
    let t0 = i32x4_shuffle::<0, 4, 1, 5>(r0, r1); // a0 b0 a1 b1
    let t1 = i32x4_shuffle::<2, 6, 3, 7>(r0, r1); // a2 b2 a3 b3
    let t2 = i32x4_shuffle::<0, 4, 1, 5>(r2, r3); // c0 d0 c1 d1
    let t3 = i32x4_shuffle::<2, 6, 3, 7>(r2, r3); // c2 d2 c3 d3
    [
        i64x2_shuffle::<0, 2>(t0, t2), // a0 b0 c0 d0
        i64x2_shuffle::<1, 3>(t0, t2), // a1 b1 c1 d1
        i64x2_shuffle::<0, 2>(t1, t3), // a2 b2 c2 d2
        i64x2_shuffle::<1, 3>(t1, t3), // a3 b3 c3 d3
    ]
}

/// `a · b + c`: fused where the build has relaxed SIMD (the engine may still split it).
#[inline(always)]
fn madd(a: v128, b: v128, c: v128) -> v128 {
    #[cfg(target_feature = "relaxed-simd")]
    return f32x4_relaxed_madd(a, b, c);
    #[cfg(not(target_feature = "relaxed-simd"))]
    return f32x4_add(c, f32x4_mul(a, b));
}

/// One `MR × NR` tile: the product of an A panel and a B panel over `kc`, stored into the
/// `rows × cols` corner of C at `c` (the rest of a ragged tile is dropped).
#[inline(never)]
unsafe fn tile(
    kc: usize,
    a: *const f32,
    b: *const f32,
    (c, sc): (*mut f32, Strides),
    (rows, cols): (usize, usize),
    store: Store,
) {
    let zero = f32x4_splat(0.0);
    let mut acc = [[zero; 2]; MR];
    let (mut a, mut b) = (a, b);
    // One depth step: B's two vectors times each of A's MR broadcasts.
    let step = |acc: &mut [[v128; 2]; MR], a: *const f32, b: *const f32| {
        let (b0, b1) = unsafe {
            (
                v128_load(b as *const v128),
                v128_load(b.add(4) as *const v128),
            )
        };
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = unsafe { v128_load32_splat(a.add(r) as *const u32) };
            acc[0] = madd(x, b0, acc[0]);
            acc[1] = madd(x, b1, acc[1]);
        }
    };
    for _ in 0..kc {
        step(&mut acc, a, b);
        a = unsafe { a.add(MR) };
        b = unsafe { b.add(NR) };
    }
    if rows == MR && cols == NR && sc.col == 1 {
        for (r, acc) in acc.iter().enumerate() {
            let p = unsafe { c.offset(r as isize * sc.row) };
            for (h, &v) in acc.iter().enumerate() {
                let q = unsafe { p.add(4 * h) } as *mut v128;
                let v = match store {
                    Store::Set => v,
                    Store::Scale(beta) => {
                        f32x4_add(v, f32x4_mul(f32x4_splat(beta), unsafe { v128_load(q) }))
                    }
                    Store::Add => f32x4_add(v, unsafe { v128_load(q) }),
                };
                unsafe { v128_store(q, v) };
            }
        }
        return;
    }
    let mut out = [0.0f32; MR * NR];
    for (r, acc) in acc.iter().enumerate() {
        for (h, &v) in acc.iter().enumerate() {
            unsafe { v128_store(out[r * NR + 4 * h..].as_mut_ptr() as *mut v128, v) };
        }
    }
    for r in 0..rows {
        for j in 0..cols {
            let p = unsafe { c.offset(r as isize * sc.row + j as isize * sc.col) };
            unsafe { *p = store.apply(out[r * NR + j], *p) };
        }
    }
}

/// The ragged last panel of at most [`NARROW`] columns: up to `2 · MR` rows (two A panels) of
/// C at a time, vectors running down A's packed rows and B's values broadcast, so no padded
/// column is computed (a padded `MR × NR` tile spends `NR − cols` of its 8 columns on zeros).
#[inline(always)]
unsafe fn narrow(
    kc: usize,
    a: *const f32,
    b: *const f32,
    c: (*mut f32, Strides),
    (rows, cols): (usize, usize),
    store: Store,
) {
    let go = |f: NarrowTile| unsafe { f(kc, a, b, c, rows, store) };
    match (cols, rows > MR) {
        (1, false) => go(narrow_tile::<1, 1>),
        (1, true) => go(narrow_tile::<1, 2>),
        (2, false) => go(narrow_tile::<2, 1>),
        (2, true) => go(narrow_tile::<2, 2>),
        (3, false) => go(narrow_tile::<3, 1>),
        (3, true) => go(narrow_tile::<3, 2>),
        (_, false) => go(narrow_tile::<4, 1>),
        (_, true) => go(narrow_tile::<4, 2>),
    }
}

/// A [`narrow_tile`] for one number of columns and A panels.
type NarrowTile = unsafe fn(usize, *const f32, *const f32, (*mut f32, Strides), usize, Store);

/// `rows` (≤ `P · MR`) rows and `COLS` columns of C from `P` consecutive A panels and the first
/// `COLS` columns of a B panel.
#[inline(never)]
unsafe fn narrow_tile<const COLS: usize, const P: usize>(
    kc: usize,
    a: *const f32,
    b: *const f32,
    (c, sc): (*mut f32, Strides),
    rows: usize,
    store: Store,
) {
    let zero = f32x4_splat(0.0);
    let mut acc = [[zero; P]; COLS];
    for kk in 0..kc {
        let mut av = [zero; P];
        for (p, v) in av.iter_mut().enumerate() {
            *v = unsafe { v128_load(a.add(p * kc * MR + kk * MR) as *const v128) };
        }
        for (j, acc) in acc.iter_mut().enumerate() {
            let x = unsafe { v128_load32_splat(b.add(kk * NR + j) as *const u32) };
            for (acc, &v) in acc.iter_mut().zip(&av) {
                *acc = madd(v, x, *acc);
            }
        }
    }
    let mut out = [0.0f32; MR];
    for (j, acc) in acc.iter().enumerate() {
        for (p, &v) in acc.iter().enumerate() {
            unsafe { v128_store(out.as_mut_ptr() as *mut v128, v) };
            for (i, &v) in out.iter().enumerate().take(rows.saturating_sub(p * MR)) {
                let q = unsafe { c.offset((p * MR + i) as isize * sc.row + j as isize * sc.col) };
                unsafe { *q = store.apply(v, *q) };
            }
        }
    }
}
