//! The kernel registry: one WGSL file per op and direction in `shaders/`, compiled in with
//! `include_str!`. File stem = entry point = kernel name for a plain kernel. Every shader binds
//! its `Params` uniform at binding 0 and its storage buffers at bindings 1..=N in the order of
//! `storage` below. Fields of `Params` that change every step come last and are written in place
//! (see `Recorder::dispatch_stepped`).
//!
//! Kernels that read a packed tensor are composed from pieces: the byte readers of
//! `shaders/packed/bytes.wgsl`, the snippet `shaders/packed/<type>.wgsl` defining
//! `fn packed_value(e: u32) -> f32` (element `e` in row-major order, read from the storage
//! binding `packed: array<u32>`), and the kernel's own file. The ops with a frozen operand (B of
//! matmul, the embedding table) also take a `shaders/frozen/` piece declaring that operand's
//! binding and `frozen_value(e)`; their variants are named after the format (`matmul_bf16`,
//! `matmul_q4_k`; [`Variants`], generated for every packed [`Format`] by `frozen_kernels!`).
//! `dequant_rows` exists for every GGUF type the shaders read ([`packed_snippet`],
//! [`dequant_rows`]). A composed kernel keeps its file's entry point. The row reductions
//! (RMSNorm, cross-entropy, the gradient norm's first pass) take `workgroup_sum` and
//! `workgroup_max` from `shaders/common/workgroup_reduce.wgsl`, which
//! [`Kernel::source_variant`] swaps for its subgroup form.
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
    /// File stem in `shaders/` (for a composed variant, the op's stem and its format).
    pub name: &'static str,
    /// Entry point: the op's file stem.
    pub entry: &'static str,
    pub source: &'static str,
    /// Storage bindings 1..=N, in order.
    pub storage: &'static [Access],
}

impl Kernel {
    /// Whether every index this kernel forms is in range by construction, so that natively it may
    /// run from a module without wgpu's runtime checks ([`super::GpuTuning::unchecked_tiles`]).
    /// The tiled products (64×64 and 128×128 tiles) qualify: they read A and B only through loaders that return 0 outside
    /// `[M, K]` and `[K, N]` (and the K range of a split), store only inside `[M, N]` (and the
    /// row blocks of dΣ's partials), index their workgroup and register arrays by constants and
    /// invocation ids below the arrays' lengths, and step K by 16 up to a bound far below
    /// `u32::MAX`; their frozen operand is f32, f16 or bf16 (one or two elements per u32 at
    /// `e` or `e / 2`). The host checks that every binding holds its shape before a dispatch
    /// (`checks.rs`); the GPU tests run these kernels unchecked on every edge shape. The GGUF
    /// block formats read bytes at computed offsets and keep the checks.
    pub fn proven_in_range(&self) -> bool {
        let tiled = matches!(
            self.entry,
            "matmul" | "matmul_pair" | "matmul_col_dot" | "matmul_multi"
        );
        let variant = self.name.strip_prefix(self.entry).unwrap_or("?");
        let format = variant.strip_prefix("_wide").unwrap_or(variant);
        tiled && matches!(format, "" | "_f16" | "_bf16")
    }
}

/// How `shaders/tile/fetch.wgsl` (composed with both matmul tiles) declares the element of their
/// workgroup tiles; [`Kernel::source_variant`] swaps it.
const TILE_F32: &str = "alias tile_vec = vec4<f32>;";

/// The workgroup reductions in workgroup memory, and their form over subgroup operations.
const REDUCE_TREE: &str = include_str!("../../../shaders/common/workgroup_reduce.wgsl");
const REDUCE_SUBGROUPS: &str =
    include_str!("../../../shaders/common/workgroup_reduce_subgroups.wgsl");

impl Kernel {
    /// Whether the kernel is composed with a matmul tile (`tile/matmul.wgsl` or its wide variant).
    pub fn has_tiles(&self) -> bool {
        self.source.contains(TILE_F32)
    }

    /// Whether the kernel reduces rows with `shaders/common/workgroup_reduce.wgsl`.
    pub fn has_workgroup_reduce(&self) -> bool {
        self.source.contains(REDUCE_TREE)
    }

    /// The source of a variant: with `f16_tiles` its workgroup tiles in f16 (GPU tuning
    /// `f16_tiles`, devices with `shader-f16`: `enable f16;` first and the tile element
    /// `vec4<f16>`; loads convert to and from f32, products accumulate in f32); with `subgroups`
    /// its workgroup reductions over subgroup operations (GPU tuning `subgroup_reduce`, native:
    /// `shaders/common/workgroup_reduce_subgroups.wgsl`; wgpu's WGSL front end takes subgroup
    /// operations from the device feature and rejects `enable subgroups;`).
    pub fn source_variant(&self, f16_tiles: bool, subgroups: bool) -> String {
        let mut source = self.source.to_string();
        if f16_tiles {
            source = format!(
                "enable f16;\n{}",
                source.replace(TILE_F32, "alias tile_vec = vec4<f16>;")
            );
        }
        if subgroups {
            source = source.replace(REDUCE_TREE, REDUCE_SUBGROUPS);
        }
        source
    }
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
        /// Every plain kernel, for validation tests and warm-up ([`DEQUANT_ROWS`] and [`frozen`]
        /// hold the composed ones).
        pub const ALL: &[&Kernel] = &[$(&$id),*];
    };
}

kernels! {
    FILL = "fill" [RW];
    COPY_COLS = "copy_cols" [R, RW];
    ADD_ASSIGN = "add_assign" [RW, R];
    ADD_BIAS = "add_bias" [RW, R];
    MUL_COLS = "mul_cols" [R, R, R, RW];
    MATMUL = "matmul": "matmul" from ["frozen/f32", "tile/fetch", "tile/matmul", "tile/store", "matmul"] [R, R, RW];
    MATMUL_PAIR = "matmul_pair": "matmul_pair" from ["frozen/f32", "common/f16", "tile/fetch", "tile/matmul", "tile/store", "matmul_pair"]
        [R, R, RW, R, R, R, R];
    MATMUL_WIDE = "matmul_wide": "matmul" from ["frozen/f32", "tile/fetch", "tile/matmul_wide", "tile/store_wide", "matmul"] [R, R, RW];
    MATMUL_PAIR_WIDE = "matmul_pair_wide": "matmul_pair"
        from ["frozen/f32", "common/f16", "tile/fetch", "tile/matmul_wide", "tile/store_wide", "matmul_pair"] [R, R, RW, R, R, R, R];
    MATMUL_ROWS = "matmul_rows": "matmul_rows" from ["frozen/f32", "matmul_rows"] [R, R, RW];
    COL_DOT = "col_dot" [R, R, R, RW];
    COL_DOT_PARTIAL = "col_dot_partial" [R, R, R, RW];
    SUM_PARTIALS = "sum_partials" [R, RW];
    MATMUL_COL_DOT = "matmul_col_dot": "matmul_col_dot"
        from ["frozen/f32", "tile/fetch", "tile/matmul", "tile/store", "tile/col_dots", "matmul_col_dot"] [R, R, RW, R, RW];
    MATMUL_MULTI = "matmul_multi": "matmul_multi" from ["common/f16", "tile/fetch", "tile/matmul", "matmul_multi"]
        [R, R, R, R, RW, RW, RW];
    COL_DOT_BLOCKS = "col_dot_blocks": "col_dot_blocks" from ["tile/col_dots", "col_dot_blocks"]
        [R, R, RW];
    SUM_BLOCKS = "sum_blocks" [R, RW];
    SVD_MERGE = "svd_merge" [R, R, R, R, RW];
    EMBEDDING = "embedding": "embedding" from ["frozen/f32", "embedding"] [R, R, RW];
    RMSNORM_FORWARD = "rmsnorm_forward": "rmsnorm_forward" from ["common/workgroup_reduce", "rmsnorm_forward"] [R, R, RW, RW];
    RMSNORM_BACKWARD = "rmsnorm_backward": "rmsnorm_backward" from ["common/workgroup_reduce", "rmsnorm_backward"] [R, R, R, R, RW];
    ROPE = "rope" [RW, R, R, R];
    ROPE_QK = "rope_qk" [RW, RW, R, R, R];
    ATTENTION_FORWARD = "attention_forward" [R, R, R, R, RW, RW];
    ATTENTION_BACKWARD_DELTA = "attention_backward_delta" [R, R, R, RW];
    ATTENTION_BACKWARD_DQ = "attention_backward_dq" [R, R, R, R, R, R, RW];
    ATTENTION_BACKWARD_DKV = "attention_backward_dkv" [R, R, R, R, R, R, RW, RW];
    ATTENTION_CACHED = "attention_cached" [R, R, R, RW, RW];
    SWIGLU_FORWARD = "swiglu_forward" [R, R, RW];
    SWIGLU_BACKWARD = "swiglu_backward" [R, R, R, RW, RW];
    GEGLU_FORWARD = "geglu_forward" [R, R, RW];
    GEGLU_BACKWARD = "geglu_backward" [R, R, R, RW, RW];
    CROSS_ENTROPY = "cross_entropy": "cross_entropy" from ["common/workgroup_reduce", "cross_entropy"] [RW, R, R, RW];
    REDUCE_PARTIAL = "reduce_partial": "reduce_partial" from ["common/workgroup_reduce", "reduce_partial"] [R, R, R, R, R, R, R, RW];
    ADAMW = "adamw" [RW, R, RW, RW, R];
}

/// The byte readers and the snippet of packed type `$t` (a file stem in `shaders/packed/`).
macro_rules! packed_source {
    ($t:literal) => {
        concat!(
            include_str!("../../../shaders/common/f16.wgsl"),
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
/// The variants of one op that reads a frozen operand, one per storage [`Format`].
pub struct Variants {
    pub f32: &'static Kernel,
    /// One kernel per packed format.
    pub packed: &'static [(Format, &'static Kernel)],
}

impl Variants {
    /// The kernel reading its frozen operand in `format` (every format has one: the shader
    /// tests check it).
    pub fn get(&self, format: Format) -> &'static Kernel {
        self.packed
            .iter()
            .find(|(f, _)| *f == format)
            .map_or(self.f32, |(_, k)| *k)
    }
}

/// The ops with a frozen operand composed for each packed format `$f` (snippet
/// `shaders/packed/$t.wgsl`): `matmul_$t`, `matmul_pair_$t`, `matmul_rows_$t`, `embedding_$t`,
/// and their tables. `@one` composes the op's file after the pieces `$piece` (the matmul tile, `shaders/tile/matmul.wgsl`).
macro_rules! frozen_kernels {
    (@one $op:literal, $t:literal $(, $piece:literal)* ; $storage:expr) => {
        Kernel {
            name: concat!($op, "_", $t),
            entry: $op,
            source: concat!(
                packed_source!($t),
                include_str!("../../../shaders/frozen/packed.wgsl"),
                $(include_str!(concat!("../../../shaders/", $piece, ".wgsl")),)*
                include_str!(concat!("../../../shaders/", $op, ".wgsl"))
            ),
            storage: $storage,
        }
    };
    (@wide $op:literal, $t:literal; $storage:expr) => {
        Kernel {
            name: concat!($op, "_wide_", $t),
            entry: $op,
            source: concat!(
                packed_source!($t),
                include_str!("../../../shaders/frozen/packed.wgsl"),
                include_str!("../../../shaders/tile/fetch.wgsl"),
                include_str!("../../../shaders/tile/matmul_wide.wgsl"),
                include_str!("../../../shaders/tile/store_wide.wgsl"),
                include_str!(concat!("../../../shaders/", $op, ".wgsl"))
            ),
            storage: $storage,
        }
    };
    ($($f:ident = $t:literal;)*) => {
        /// `matmul` on 128×128 tiles (`shaders/tile/matmul_wide.wgsl`) by the format of B.
        pub const MATMUL_WIDE_BY_B: Variants = Variants {
            f32: &MATMUL_WIDE,
            packed: &[$((Format::$f, &frozen_kernels!(@wide "matmul", $t; &[R, R, RW]))),*],
        };
        /// `matmul_pair` on 128×128 tiles by the format of B1.
        pub const MATMUL_PAIR_WIDE_BY_B: Variants = Variants {
            f32: &MATMUL_PAIR_WIDE,
            packed: &[$((Format::$f, &frozen_kernels!(@wide "matmul_pair", $t; MATMUL_PAIR.storage))),*],
        };
        /// `matmul` by the format of B.
        pub const MATMUL_BY_B: Variants = Variants {
            f32: &MATMUL,
            packed: &[$((Format::$f, &frozen_kernels!(@one "matmul", $t, "tile/fetch", "tile/matmul", "tile/store"; &[R, R, RW]))),*],
        };
        /// `matmul_col_dot` by the format of B (the factor U: f32 or f16).
        pub const MATMUL_COL_DOT_BY_B: Variants = Variants {
            f32: &MATMUL_COL_DOT,
            packed: &[$((Format::$f, &frozen_kernels!(@one "matmul_col_dot", $t, "tile/fetch", "tile/matmul", "tile/store", "tile/col_dots"; MATMUL_COL_DOT.storage))),*],
        };
        /// `matmul_pair` by the format of B1.
        pub const MATMUL_PAIR_BY_B: Variants = Variants {
            f32: &MATMUL_PAIR,
            packed: &[$((Format::$f, &frozen_kernels!(@one "matmul_pair", $t, "tile/fetch", "tile/matmul", "tile/store"; MATMUL_PAIR.storage))),*],
        };
        /// `matmul_rows` by the format of B.
        pub const MATMUL_ROWS_BY_B: Variants = Variants {
            f32: &MATMUL_ROWS,
            packed: &[$((Format::$f, &frozen_kernels!(@one "matmul_rows", $t; &[R, R, RW]))),*],
        };
        /// `embedding` by the format of the table.
        pub const EMBEDDING_BY_TABLE: Variants = Variants {
            f32: &EMBEDDING,
            packed: &[$((Format::$f, &frozen_kernels!(@one "embedding", $t; &[R, R, RW]))),*],
        };
    };
}

frozen_kernels! {
    F16 = "f16";
    Bf16 = "bf16";
    Q8_0 = "q8_0";
    Q4_0 = "q4_0";
    Q4_1 = "q4_1";
    Q5_0 = "q5_0";
    Q5_1 = "q5_1";
    Q4_K = "q4_k";
    Q5_K = "q5_k";
    Q6_K = "q6_k";
}

/// The composed variants of every op with a frozen operand (for validation tests).
pub fn frozen() -> impl Iterator<Item = &'static Kernel> {
    [
        MATMUL_BY_B,
        MATMUL_PAIR_BY_B,
        MATMUL_WIDE_BY_B,
        MATMUL_PAIR_WIDE_BY_B,
        MATMUL_ROWS_BY_B,
        EMBEDDING_BY_TABLE,
    ]
    .into_iter()
    .flat_map(|v| v.packed.iter().map(|(_, k)| *k))
}
