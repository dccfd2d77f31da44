//! The kernel registry: one WGSL file per op and direction in `shaders/`, compiled in with
//! `include_str!`. File stem = entry point = kernel name. A few kernels read a frozen operand (B
//! of matmul, the embedding table) and come in variants composed from pieces: a
//! `shaders/packed/` snippet defining `fn packed_value(e: u32) -> f32` (element `e` of a packed
//! tensor, row-major, read from the storage binding `packed: array<u32>`), a `shaders/frozen/`
//! piece declaring that operand's binding and `frozen_value(e)`, then the op's own file; their
//! name adds the format (`matmul_bf16`) and the entry point stays the op's. Every shader binds its `Params` uniform
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
    /// File stem in `shaders/` (for a composed variant, the op's stem and its format).
    pub name: &'static str,
    /// Entry point: the op's file stem.
    pub entry: &'static str,
    pub source: &'static str,
    /// Storage bindings 1..=N, in order.
    pub storage: &'static [Access],
}

use crate::backend::Format;
use Access::{Read as R, ReadWrite as RW};

macro_rules! kernels {
    (@entry $name:literal) => { $name };
    (@entry $name:literal, $entry:literal) => { $entry };
    (@source $name:literal) => { include_str!(concat!("../../../shaders/", $name, ".wgsl")) };
    (@source $name:literal; $($part:literal),+) => {
        concat!($(include_str!(concat!("../../../shaders/", $part, ".wgsl"))),+)
    };
    ($($id:ident = $name:literal $(: $entry:literal from [$($part:literal),+])? [$($acc:expr),*];)*) => {
        $(
            pub const $id: Kernel = Kernel {
                name: $name,
                entry: kernels!(@entry $name $(, $entry)?),
                source: kernels!(@source $name $(; $($part),+)?),
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
    MUL_COLS = "mul_cols" [R, R, RW];
    MATMUL = "matmul": "matmul" from ["frozen/f32", "matmul"] [R, R, RW];
    MATMUL_F16 = "matmul_f16": "matmul" from ["packed/f16", "frozen/packed", "matmul"] [R, R, RW];
    MATMUL_BF16 = "matmul_bf16": "matmul" from ["packed/bf16", "frozen/packed", "matmul"] [R, R, RW];
    MATMUL_ROWS = "matmul_rows": "matmul_rows" from ["frozen/f32", "matmul_rows"] [R, R, RW];
    MATMUL_ROWS_F16 = "matmul_rows_f16": "matmul_rows"
        from ["packed/f16", "frozen/packed", "matmul_rows"] [R, R, RW];
    MATMUL_ROWS_BF16 = "matmul_rows_bf16": "matmul_rows"
        from ["packed/bf16", "frozen/packed", "matmul_rows"] [R, R, RW];
    COL_DOT_PARTIAL = "col_dot_partial" [R, R, R, RW];
    SUM_PARTIALS = "sum_partials" [R, RW];
    SVD_MERGE = "svd_merge" [R, R, R, R, RW];
    EMBEDDING = "embedding": "embedding" from ["frozen/f32", "embedding"] [R, R, RW];
    EMBEDDING_F16 = "embedding_f16": "embedding"
        from ["packed/f16", "frozen/packed", "embedding"] [R, R, RW];
    EMBEDDING_BF16 = "embedding_bf16": "embedding"
        from ["packed/bf16", "frozen/packed", "embedding"] [R, R, RW];
    RMSNORM_FORWARD = "rmsnorm_forward" [R, R, RW, RW];
    RMSNORM_BACKWARD = "rmsnorm_backward" [R, R, R, R, RW];
    ROPE = "rope" [RW, R, R, R];
    ATTENTION_FORWARD = "attention_forward" [R, R, R, R, RW, RW];
    ATTENTION_BACKWARD_DELTA = "attention_backward_delta" [R, R, R, RW];
    ATTENTION_BACKWARD_DQ = "attention_backward_dq" [R, R, R, R, R, R, RW];
    ATTENTION_BACKWARD_DKV = "attention_backward_dkv" [R, R, R, R, R, R, RW, RW];
    ATTENTION_CACHED = "attention_cached" [R, R, R, RW, RW];
    SWIGLU_FORWARD = "swiglu_forward" [R, R, RW];
    SWIGLU_BACKWARD = "swiglu_backward" [R, R, R, RW, RW];
    CROSS_ENTROPY = "cross_entropy" [RW, R, R, RW];
    REDUCE_PARTIAL = "reduce_partial" [R, RW];
    ADAMW = "adamw" [RW, R, RW, RW, R];
}

/// The variants of one op that reads a frozen operand, one per storage [`Format`].
pub struct Variants {
    pub f32: &'static Kernel,
    pub f16: &'static Kernel,
    pub bf16: &'static Kernel,
}

impl Variants {
    /// The kernel reading its frozen operand in `format`.
    pub fn get(&self, format: Format) -> &'static Kernel {
        match format {
            Format::F32 => self.f32,
            Format::F16 => self.f16,
            Format::Bf16 => self.bf16,
        }
    }
}

/// `matmul` by the format of B.
pub const MATMUL_BY_B: Variants = Variants {
    f32: &MATMUL,
    f16: &MATMUL_F16,
    bf16: &MATMUL_BF16,
};
/// `matmul_rows` by the format of B.
pub const MATMUL_ROWS_BY_B: Variants = Variants {
    f32: &MATMUL_ROWS,
    f16: &MATMUL_ROWS_F16,
    bf16: &MATMUL_ROWS_BF16,
};
/// `embedding` by the format of the table.
pub const EMBEDDING_BY_TABLE: Variants = Variants {
    f32: &EMBEDDING,
    f16: &EMBEDDING_F16,
    bf16: &EMBEDDING_BF16,
};
