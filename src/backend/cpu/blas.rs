//! The CPU backend's matrix product: a single-threaded kernel per block, with large products
//! split into blocks of output columns or rows that run on rayon's pool. Splitting ourselves
//! keeps each block's packing private and lets small products (one attention head, a rank-q
//! factor) skip the pool entirely.
//!
//! The kernel natively: the `gemm` crate's (AVX-512, AVX2+FMA or NEON, chosen at run time). In
//! wasm, f32: ours ([`super::simd128`], a 4×8 simd128 micro-kernel sized for the 15 vector
//! registers browsers' compilers give wasm code on x86-64); f64 (gradient checks only):
//! `matrixmultiply`'s. The pool in wasm is the page's Web Workers (feature `threads`,
//! wasm-bindgen-rayon) or, in a build without threads, rayon's fallback: the calling thread
//! alone, where every product runs as one block.

/// Products below this many multiply-adds run on the calling thread (≈ 10 µs of work).
const PARALLEL_MIN_MACS: usize = 1 << 21;

/// Row and column strides of one matrix, in elements.
#[derive(Clone, Copy)]
pub struct Strides {
    pub row: isize,
    pub col: isize,
}

/// A matrix operand as a raw address, so halves of a product can move to pool threads.
#[derive(Clone, Copy)]
struct Ptr(usize);

/// `C = alpha · A · B + beta · C`; A `[m, k]`, B `[k, n]`, C `[m, n]`, each with its strides.
///
/// # Safety
/// Every element reachable through the dimensions and strides lies inside its allocation, and C
/// overlaps neither A nor B.
#[allow(clippy::too_many_arguments)]
pub unsafe fn gemm<T: Kernel>(
    (m, k, n): (usize, usize, usize),
    alpha: T,
    (a, sa): (*const T, Strides),
    (b, sb): (*const T, Strides),
    beta: T,
    read_c: bool,
    (c, sc): (*mut T, Strides),
) {
    let job = Job {
        alpha,
        beta,
        read_c,
        sa,
        sb,
        sc,
        k,
    };
    let threads = rayon::current_num_threads();
    job.run(
        m,
        n,
        Ptr(a as usize),
        Ptr(b as usize),
        Ptr(c as usize),
        threads,
    );
}

/// What stays the same for every block of one product.
#[derive(Clone, Copy)]
struct Job<T> {
    alpha: T,
    beta: T,
    read_c: bool,
    sa: Strides,
    sb: Strides,
    sc: Strides,
    k: usize,
}

impl<T: Kernel> Job<T> {
    /// Computes the `[m, n]` block of C at `c` from A's rows at `a` and B's columns at `b`,
    /// halving the longer side across `threads` pool threads while the halves are big enough.
    fn run(self, m: usize, n: usize, a: Ptr, b: Ptr, c: Ptr, threads: usize) {
        let size = std::mem::size_of::<T>() as isize;
        if threads < 2 || m * n * self.k < 2 * PARALLEL_MIN_MACS {
            return self.kernel(m, n, a, b, c);
        }
        let (left, right) = (threads / 2, threads - threads / 2);
        // The halves split at the multiple of 16 nearest the middle (66 columns: 32 + 34, where
        // rounding up gave 48 + 18 and left one thread idle most of the product).
        let half = |len: usize| ((len / 2 + 8) / 16 * 16).max(16);
        if n >= m && n >= 32 {
            let h = half(n);
            let b2 = Ptr((b.0 as isize + h as isize * self.sb.col * size) as usize);
            let c2 = Ptr((c.0 as isize + h as isize * self.sc.col * size) as usize);
            rayon::join(
                || self.run(m, h, a, b, c, left),
                || self.run(m, n - h, a, b2, c2, right),
            );
        } else if m >= 32 {
            let h = half(m);
            let a2 = Ptr((a.0 as isize + h as isize * self.sa.row * size) as usize);
            let c2 = Ptr((c.0 as isize + h as isize * self.sc.row * size) as usize);
            rayon::join(
                || self.run(h, n, a, b, c, left),
                || self.run(m - h, n, a2, b, c2, right),
            );
        } else {
            self.kernel(m, n, a, b, c);
        }
    }

    fn kernel(self, m: usize, n: usize, a: Ptr, b: Ptr, c: Ptr) {
        // Safety: the block lies inside the caller's matrices (see `gemm`), and concurrent
        // blocks write disjoint parts of C.
        unsafe {
            T::block(
                (m, self.k, n),
                self.alpha,
                (a.0 as *const T, self.sa),
                (b.0 as *const T, self.sb),
                self.beta,
                self.read_c,
                (c.0 as *mut T, self.sc),
            )
        }
    }
}

/// A float with a single-threaded matrix-product kernel (f32 and f64).
pub trait Kernel: Copy + Send + Sync + 'static {
    /// `C = alpha · A · B + beta · C` on the calling thread (C is not read unless `read_c`).
    ///
    /// # Safety
    /// As for [`gemm`].
    unsafe fn block(
        mkn: (usize, usize, usize),
        alpha: Self,
        a: (*const Self, Strides),
        b: (*const Self, Strides),
        beta: Self,
        read_c: bool,
        c: (*mut Self, Strides),
    );
}

macro_rules! impl_kernel {
    ($t:ty, $wasm:path) => {
        impl Kernel for $t {
            unsafe fn block(
                (m, k, n): (usize, usize, usize),
                alpha: Self,
                (a, sa): (*const Self, Strides),
                (b, sb): (*const Self, Strides),
                beta: Self,
                read_c: bool,
                (c, sc): (*mut Self, Strides),
            ) {
                // The crate's `alpha` scales the old C, its `beta` the product.
                #[cfg(not(target_arch = "wasm32"))]
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        c,
                        sc.col,
                        sc.row,
                        read_c,
                        a,
                        sa.col,
                        sa.row,
                        b,
                        sb.col,
                        sb.row,
                        beta,
                        alpha,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
                #[cfg(target_arch = "wasm32")]
                unsafe {
                    $wasm((m, k, n), alpha, (a, sa), (b, sb), beta, read_c, (c, sc))
                }
            }
        }
    };
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::simd128::sgemm;
impl_kernel!(f32, sgemm);
impl_kernel!(f64, dgemm);

/// `matrixmultiply`'s product behind [`Kernel::block`]'s signature: f64 in wasm (gradient
/// checks, never on the page's hot path), and f32 in a wasm build without simd128 (rustdoc's
/// doctests build without the target's flags; the page's builds all have it).
macro_rules! matrixmultiply_kernel {
    ($name:ident, $t:ty, $f:path) => {
        /// # Safety
        /// As for [`gemm`].
        #[cfg(target_arch = "wasm32")]
        #[allow(clippy::too_many_arguments)]
        unsafe fn $name(
            (m, k, n): (usize, usize, usize),
            alpha: $t,
            (a, sa): (*const $t, Strides),
            (b, sb): (*const $t, Strides),
            beta: $t,
            read_c: bool,
            (c, sc): (*mut $t, Strides),
        ) {
            // matrixmultiply never reads C when beta is zero.
            let beta = if read_c { beta } else { 0.0 };
            unsafe {
                $f(
                    m, k, n, alpha, a, sa.row, sa.col, b, sb.row, sb.col, beta, c, sc.row, sc.col,
                )
            }
        }
    };
}
matrixmultiply_kernel!(dgemm, f64, matrixmultiply::dgemm);
#[cfg(all(target_arch = "wasm32", not(target_feature = "simd128")))]
matrixmultiply_kernel!(sgemm, f32, matrixmultiply::sgemm);
