//! The kernel registry: one WGSL file per op and direction in `shaders/`, compiled in with
//! `include_str!`. File stem = entry point = kernel name. Every shader binds its `Params` uniform
//! at binding 0 and its storage buffers at bindings 1..=N in the order of `storage` below. Fields
//! of `Params` that change every step come last and are written in place (see
//! `Recorder::dispatch_stepped`).
//!
//! Kernels that read a packed tensor (GGUF blocks, f16, bf16) are composed: the byte readers of
//! `shaders/packed/bytes.wgsl`, then the snippet `shaders/packed/<type>.wgsl` defining
//! `fn packed_value(e: u32) -> f32` (element `e` in row-major order, read from the kernel's
//! `packed: array<u32>` binding), then the kernel's own file. One kernel per type, named
//! `<file>_<type>`, with the file's entry point ([`packed_snippet`], [`dequant_rows`]).
use crate::gguf::GgmlType;

/// How a kernel accesses one storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// A compute kernel: its WGSL source and its binding contract.
#[derive(Debug)]
pub struct Kernel {
    /// Unique name (pipeline and layout caches); the file stem in `shaders/` for a plain kernel,
    /// `<file>_<type>` for a composed one.
    pub name: &'static str,
    /// Entry point: the file stem in `shaders/` (equal to `name` for a plain kernel).
    pub entry: &'static str,
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
                entry: $name,
                source: include_str!(concat!("../../../shaders/", $name, ".wgsl")),
                storage: &[$($acc),*],
            };
        )*
        /// Every plain kernel, for validation tests and warm-up ([`DEQUANT_ROWS`] holds the
        /// composed ones).
        pub const ALL: &[&Kernel] = &[$(&$id),*];
    };
}

kernels! {
    FILL = "fill" [RW];
    COPY_COLS = "copy_cols" [R, RW];
    ADD_ASSIGN = "add_assign" [RW, R];
    ADD_BIAS = "add_bias" [RW, R];
    MUL_COLS = "mul_cols" [R, R, RW];
    MATMUL = "matmul" [R, R, RW];
    MATMUL_ROWS = "matmul_rows" [R, R, RW];
    COL_DOT_PARTIAL = "col_dot_partial" [R, R, R, RW];
    SUM_PARTIALS = "sum_partials" [R, RW];
    SVD_MERGE = "svd_merge" [R, R, R, R, RW];
    EMBEDDING = "embedding" [R, R, RW];
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
    GEGLU_FORWARD = "geglu_forward" [R, R, RW];
    GEGLU_BACKWARD = "geglu_backward" [R, R, R, RW, RW];
    CROSS_ENTROPY = "cross_entropy" [RW, R, R, RW];
    REDUCE_PARTIAL = "reduce_partial" [R, RW];
    ADAMW = "adamw" [RW, R, RW, RW, R];
}

/// The byte readers and the snippet of packed type `$t` (a file stem in `shaders/packed/`).
macro_rules! packed_source {
    ($t:literal) => {
        concat!(
            include_str!("../../../shaders/packed/bytes.wgsl"),
            include_str!(concat!("../../../shaders/packed/", $t, ".wgsl"))
        )
    };
}

macro_rules! packed_kernels {
    ($($ty:ident = $t:literal, $id:ident;)*) => {
        /// The packed types whose elements shaders read directly, each with its snippet (byte
        /// readers + `packed_value`, to compose before a kernel that binds `packed`).
        pub const PACKED: &[(GgmlType, &str)] = &[$((GgmlType::$ty, packed_source!($t))),*];
        $(
            pub const $id: Kernel = Kernel {
                name: concat!("dequant_rows_", $t),
                entry: "dequant_rows",
                source: concat!(packed_source!($t), include_str!("../../../shaders/dequant_rows.wgsl")),
                storage: &[R, RW],
            };
        )*
        /// `dequant_rows` for every packed type, in the order of [`PACKED`].
        pub const DEQUANT_ROWS: &[&Kernel] = &[$(&$id),*];
    };
}

packed_kernels! {
    F16 = "f16", DEQUANT_ROWS_F16;
    BF16 = "bf16", DEQUANT_ROWS_BF16;
    Q8_0 = "q8_0", DEQUANT_ROWS_Q8_0;
    Q4_0 = "q4_0", DEQUANT_ROWS_Q4_0;
    Q4_1 = "q4_1", DEQUANT_ROWS_Q4_1;
    Q5_0 = "q5_0", DEQUANT_ROWS_Q5_0;
    Q5_1 = "q5_1", DEQUANT_ROWS_Q5_1;
    Q4_K = "q4_k", DEQUANT_ROWS_Q4_K;
    Q5_K = "q5_k", DEQUANT_ROWS_Q5_K;
    Q6_K = "q6_k", DEQUANT_ROWS_Q6_K;
}

/// The snippet defining `packed_value` for `ty` (with the byte readers it uses), or `None` for a
/// type shaders do not read (see [`crate::gguf::check_block_type`]).
pub fn packed_snippet(ty: GgmlType) -> Option<&'static str> {
    PACKED.iter().find(|(t, _)| *t == ty).map(|(_, s)| *s)
}

/// The `dequant_rows` kernel for `ty`, or `None` for a type shaders do not read.
pub fn dequant_rows(ty: GgmlType) -> Option<&'static Kernel> {
    PACKED
        .iter()
        .position(|(t, _)| *t == ty)
        .map(|i| DEQUANT_ROWS[i])
}
