//! The parameters of the ops that take more than shapes: a matrix product's layout and scale,
//! attention's dimensions (training and cached generation), AdamW's hyper-parameters, the second
//! term of a paired product.

/// `C = alpha · op(A) · op(B) (+ C if accumulate)`, where `op(A)` is `[M, K]` and `op(B)` is `[K, N]`.
/// With `trans_a`, A is stored `[K, M]`; with `trans_b`, B is stored `[N, K]` (the Hugging Face
/// weight layout, so `x · Wᵀ` is `trans_b: true`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Matmul {
    pub trans_a: bool,
    pub trans_b: bool,
    pub accumulate: bool,
    pub alpha: f32,
}

impl Matmul {
    /// `C = A · B`
    pub const NN: Matmul = Matmul {
        trans_a: false,
        trans_b: false,
        accumulate: false,
        alpha: 1.0,
    };
    /// `C = A · Bᵀ` (e.g. `y = x Wᵀ`)
    pub const NT: Matmul = Matmul {
        trans_b: true,
        ..Matmul::NN
    };
    /// `C = Aᵀ · B` (e.g. `Wᵀ Q` in the randomized SVD)
    pub const TN: Matmul = Matmul {
        trans_a: true,
        ..Matmul::NN
    };
    /// `C = Aᵀ · Bᵀ`
    pub const TT: Matmul = Matmul {
        trans_a: true,
        trans_b: true,
        ..Matmul::NN
    };
    /// The same product, added to what `C` holds.
    pub const fn accumulate(self) -> Matmul {
        Matmul {
            accumulate: true,
            ..self
        }
    }
    /// The same product, added to what `C` holds when `accumulate`.
    pub const fn accumulate_if(self, accumulate: bool) -> Matmul {
        Matmul { accumulate, ..self }
    }
}

/// Rows per block of the partial sums of [`Backend::matmul_col_dot`](super::Backend::matmul_col_dot).
pub const DSIGMA_BLOCK_ROWS: usize = 64;

/// The second product of [`Backend::matmul_pair`](super::Backend::matmul_pair):
/// `(a ⊙ (scale + scale_add)) · bᵀ`, a column scale on `a` (the SVD layer's `Σ − Σ₀`, formed in
/// f32 as [`Backend::mul_cols`](super::Backend::mul_cols) forms it), or `a · bᵀ` without one.
/// a `[M, Q]`, b `[N, Q]` (f32, or a factor kept in f16), scale and scale_add `[Q]`.
pub struct PairTerm<'a, T> {
    pub a: &'a T,
    pub b: &'a T,
    pub scale: Option<(&'a T, &'a T)>,
}

// References only: copyable whatever `T` is (a derive would ask `T: Copy`).
impl<T> Clone for PairTerm<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for PairTerm<'_, T> {}

/// Attention geometry: `batch` sequences of `seq` tokens each (rows `b·seq + t`), `n_heads` query
/// heads sharing `n_kv_heads` key/value heads (grouped-query attention), `head_dim` per head.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttentionDims {
    pub batch: usize,
    pub seq: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Softmax scale, usually `1 / sqrt(head_dim)`.
    pub scale: f32,
}

/// Geometry of attention against a key/value cache (generation, one sequence).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CachedAttentionDims {
    /// New query rows.
    pub rows: usize,
    /// Absolute position of the first query row; cache rows `0 .. q_offset + rows` hold keys.
    pub q_offset: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Sliding window: a query at position `p` sees keys `max(0, p + 1 − window) ..= p`;
    /// 0 = unlimited.
    pub window: usize,
    /// Softmax scale, usually `1 / sqrt(head_dim)`.
    pub scale: f32,
}

/// AdamW hyper-parameters for one update (`step` counts from 1, for bias correction).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamW {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub step: u32,
    /// Clip the gradient to this global norm (`f32::INFINITY` for no clipping).
    pub max_grad_norm: f32,
}
