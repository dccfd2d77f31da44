//! The float type the CPU kernels are generic over: f32 in the backend, f64 in gradient checks.
use num_traits::Float;

/// f32 or f64, with a BLAS-like matrix product (`blas`: split over the pool, one kernel per block).
pub trait Real:
    Float
    + Copy
    + Default
    + std::fmt::Debug
    + Send
    + Sync
    + std::iter::Sum
    + 'static
    + super::blas::Kernel
{
    /// `C = alpha · A · B + beta · C` with element strides (row stride, column stride) per matrix.
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        alpha: Self,
        a: &[Self],
        a_strides: (isize, isize),
        b: &[Self],
        b_strides: (isize, isize),
        beta: Self,
        c: &mut [Self],
        c_strides: (isize, isize),
    );
    fn from_f32(x: f32) -> Self;
    fn to_f32(self) -> f32;
    /// `e^self` in a form loops vectorise: [`super::vector::exp_f32`] for f32 (within 2 ulp),
    /// the library's for f64 (the gradient checks' reference precision).
    fn vexp(self) -> Self;
}

macro_rules! impl_real {
    ($t:ty, $exp:path) => {
        impl Real for $t {
            fn gemm(
                m: usize,
                k: usize,
                n: usize,
                alpha: Self,
                a: &[Self],
                a_strides: (isize, isize),
                b: &[Self],
                b_strides: (isize, isize),
                beta: Self,
                c: &mut [Self],
                c_strides: (isize, isize),
            ) {
                if m == 0 || n == 0 {
                    return;
                }
                // Safety: callers (checked shapes in `linalg::matmul`) guarantee that every
                // index reachable through the given dimensions and strides is inside its slice.
                unsafe {
                    use super::blas::{Strides, gemm};
                    let s = |(row, col): (isize, isize)| Strides { row, col };
                    gemm(
                        (m, k, n),
                        alpha,
                        (a.as_ptr(), s(a_strides)),
                        (b.as_ptr(), s(b_strides)),
                        beta,
                        beta != 0.0,
                        (c.as_mut_ptr(), s(c_strides)),
                    );
                }
            }
            fn from_f32(x: f32) -> Self {
                x as $t
            }
            fn to_f32(self) -> f32 {
                self as f32
            }
            #[inline(always)]
            fn vexp(self) -> Self {
                $exp(self)
            }
        }
    };
}

impl_real!(f32, super::vector::exp_f32);
impl_real!(f64, f64::exp);
