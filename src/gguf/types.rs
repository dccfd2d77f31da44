//! The tensor types of GGUF files (ggml's `ggml_type`): their codes, names and block layouts, and
//! which of them this build can dequantize, and which of those the backends read in their stored
//! precision ([`check_block_type`]).
//!
//! A tensor of type `t` stores its innermost dimension in blocks of `block_size(t)` values, each
//! block `type_size(t)` bytes. Sizes of the types this build cannot dequantize are still known, so
//! a file holding them is read and described, and the error names the type.

/// A ggml tensor type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GgmlType(pub u32);

/// Code, name, values per block, bytes per block (ggml's type traits).
const TABLE: &[(u32, &str, u64, u64)] = &[
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 40),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
];

impl GgmlType {
    pub const F32: GgmlType = GgmlType(0);
    pub const F16: GgmlType = GgmlType(1);
    pub const Q4_0: GgmlType = GgmlType(2);
    pub const Q4_1: GgmlType = GgmlType(3);
    pub const Q5_0: GgmlType = GgmlType(6);
    pub const Q5_1: GgmlType = GgmlType(7);
    pub const Q8_0: GgmlType = GgmlType(8);
    pub const Q2_K: GgmlType = GgmlType(10);
    pub const Q3_K: GgmlType = GgmlType(11);
    pub const Q4_K: GgmlType = GgmlType(12);
    pub const Q5_K: GgmlType = GgmlType(13);
    pub const Q6_K: GgmlType = GgmlType(14);
    pub const BF16: GgmlType = GgmlType(30);

    /// The types [`crate::gguf::dequant::dequantize`] converts to f32.
    pub const SUPPORTED: &'static [GgmlType] = &[
        Self::F32,
        Self::F16,
        Self::BF16,
        Self::Q8_0,
        Self::Q4_0,
        Self::Q4_1,
        Self::Q5_0,
        Self::Q5_1,
        Self::Q2_K,
        Self::Q3_K,
        Self::Q4_K,
        Self::Q5_K,
        Self::Q6_K,
    ];

    /// The types the backends hold as stored and read directly (GPU shaders in
    /// `shaders/packed/`): the rest must be imported to f32 first ([`check_block_type`]).
    pub const STORED: &'static [GgmlType] = &[
        Self::F32,
        Self::F16,
        Self::BF16,
        Self::Q8_0,
        Self::Q4_0,
        Self::Q4_1,
        Self::Q5_0,
        Self::Q5_1,
        Self::Q4_K,
        Self::Q5_K,
        Self::Q6_K,
    ];

    fn entry(self) -> Option<&'static (u32, &'static str, u64, u64)> {
        TABLE.iter().find(|e| e.0 == self.0)
    }

    /// Whether ggml defines this code (its layout is known).
    pub fn is_known(self) -> bool {
        self.entry().is_some()
    }

    /// Whether this build dequantizes it.
    pub fn is_supported(self) -> bool {
        Self::SUPPORTED.contains(&self)
    }

    /// ggml's name (`Q4_K`), or `type N` for a code ggml does not define.
    pub fn name(self) -> String {
        match self.entry() {
            Some(e) => e.1.to_string(),
            None => format!("type {}", self.0),
        }
    }

    /// Values per block (`None` for an unknown code).
    pub fn block_size(self) -> Option<u64> {
        self.entry().map(|e| e.2)
    }

    /// Bytes per block (`None` for an unknown code).
    pub fn type_size(self) -> Option<u64> {
        self.entry().map(|e| e.3)
    }

    /// The supported types' names, comma separated (for error messages).
    pub fn supported_list() -> String {
        Self::SUPPORTED
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Accepts a tensor whose type the backends read in its stored precision ([`GgmlType::STORED`]);
/// otherwise an `Error::Unsupported` naming the tensor and its type: for a type the importer
/// dequantizes (Q2_K, Q3_K), it suggests `svdtune import-gguf`; for any other, it says the type
/// cannot be read at all.
pub fn check_block_type(tensor_name: &str, ty: GgmlType) -> crate::error::Result<()> {
    if GgmlType::STORED.contains(&ty) {
        return Ok(());
    }
    let stored = GgmlType::STORED
        .iter()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ");
    let message = if ty.is_supported() {
        format!(
            "tensor {tensor_name} is {ty}, which cannot be trained in its stored precision \
             (types trained as stored: {stored}); convert the file to an f32 folder with \
             `svdtune import-gguf FILE.gguf --out DIR` and train that folder"
        )
    } else {
        format!(
            "tensor {tensor_name} is {ty}, which svdtune cannot read (types trained as stored: \
             {stored}; `svdtune import-gguf` also converts {}); re-quantize the model to one of \
             them with llama.cpp",
            GgmlType::supported_list()
        )
    };
    Err(crate::error::Error::Unsupported(message))
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}
