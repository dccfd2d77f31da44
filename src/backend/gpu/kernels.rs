//! The kernel registry: one WGSL file per op and direction in `shaders/`, compiled in with
//! `include_str!`. File stem = entry point = kernel name. Every shader binds its `Params` uniform
//! at binding 0 and its storage buffers at bindings 1..=N in the order of `storage` below. Fields
//! of `Params` that change every step come last and are written in place (see
//! `Recorder::dispatch_stepped`).

/// How a kernel accesses one storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// A compute kernel: its WGSL source and its binding contract.
#[derive(Debug)]
pub struct Kernel {
    /// File stem in `shaders/` and entry point name.
    pub name: &'static str,
    pub source: &'static str,
    /// Storage bindings 1..=N, in order.
    pub storage: &'static [Access],
}

use Access::{Read as R, ReadWrite as RW};

macro_rules! kernels {
    ($($id:ident = $name:literal [$($acc:expr),*];)*) => {
        $(
            pub const $id: Kernel = Kernel {
                name: $name,
                source: include_str!(concat!("../../../shaders/", $name, ".wgsl")),
                storage: &[$($acc),*],
            };
        )*
        /// Every kernel, for validation tests and warm-up.
        pub const ALL: &[&Kernel] = &[$(&$id),*];
    };
}

kernels! {
    FILL = "fill" [RW];
    COPY_COLS = "copy_cols" [R, RW];
    ADD_ASSIGN = "add_assign" [RW, R];
    ADD_BIAS = "add_bias" [RW, R];
    MUL_COLS = "mul_cols" [R, R, R, RW];
    MATMUL = "matmul" [R, R, RW];
    MATMUL_ROWS = "matmul_rows" [R, R, RW];
    COL_DOT = "col_dot" [R, R, R, RW];
    COL_DOT_PARTIAL = "col_dot_partial" [R, R, R, RW];
    SUM_PARTIALS = "sum_partials" [R, RW];
    SIGMA_BACKWARD = "sigma_backward" [R, R, R, R, RW, RW];
    SVD_MERGE = "svd_merge" [R, R, R, R, RW];
    EMBEDDING = "embedding" [R, R, RW];
    RMSNORM_FORWARD = "rmsnorm_forward" [R, R, RW, RW];
    RMSNORM_BACKWARD = "rmsnorm_backward" [R, R, R, R, RW];
    ROPE = "rope" [RW, R, R, R];
    ROPE_QK = "rope_qk" [RW, RW, R, R, R];
    ATTENTION_FORWARD = "attention_forward" [R, R, R, R, RW, RW];
    ATTENTION_BACKWARD_DELTA = "attention_backward_delta" [R, R, R, RW];
    ATTENTION_BACKWARD_DQ = "attention_backward_dq" [R, R, R, R, R, R, RW];
    ATTENTION_BACKWARD_DKV = "attention_backward_dkv" [R, R, R, R, R, R, RW, RW];
    ATTENTION_CACHED = "attention_cached" [R, R, R, RW, RW];
    SWIGLU_FORWARD = "swiglu_forward" [R, R, RW];
    SWIGLU_BACKWARD = "swiglu_backward" [R, R, R, RW, RW];
    CROSS_ENTROPY = "cross_entropy" [RW, R, R, RW];
    REDUCE_PARTIAL = "reduce_partial" [R, R, R, R, R, R, R, RW];
    ADAMW = "adamw" [RW, R, RW, RW, R];
}
