//! Size limits of a `config.json`, checked before anything is built from it: every tensor the
//! config implies must be indexable by the GPU kernels (u32 element indices, below 2³¹ to leave
//! room for offsets) and addressable in wasm32 memory, and the layer count must be one a real
//! model has. Products are computed in u64 with overflow checks, so a config with absurd sizes
//! is refused by name rather than overflowing a multiplication or exhausting memory later.
use crate::error::{Error, Result};

/// Most elements in one tensor (an 8 GiB f32 tensor; the largest embedding of a released model,
/// 128256 × 16384, has 2.1 · 10⁹).
pub const MAX_TENSOR_ELEMENTS: u64 = (1 << 31) - 1;
/// Most decoder layers (released models have at most a few hundred).
pub const MAX_LAYERS: usize = 4096;

/// The sizes read from a config, before the widths are multiplied out.
pub struct Dims {
    pub vocab: usize,
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// Phi-3 stores q, k, v and gate, up as fused matrices.
    pub fused: bool,
}

/// Refuses a config whose largest tensor or layer count is beyond the limits above; the error
/// names the fields and the tensor.
pub fn check(file: &str, d: &Dims) -> Result<()> {
    if d.layers > MAX_LAYERS {
        return Err(Error::input(
            file,
            format!(
                "num_hidden_layers is {}, more than the {MAX_LAYERS} svdtune accepts",
                d.layers
            ),
        ));
    }
    let mul = |factors: &[usize]| {
        factors
            .iter()
            .try_fold(1u64, |acc, &f| acc.checked_mul(f as u64))
    };
    let q_width = mul(&[d.heads, d.head_dim]);
    let kv_width = mul(&[d.kv_heads, d.head_dim]);
    let (Some(qw), Some(kw)) = (q_width, kv_width) else {
        return Err(too_large(
            file,
            "the attention width (num_attention_heads × head_dim)",
            None,
        ));
    };
    let (qkv_rows, mlp_rows) = if d.fused {
        (
            qw.checked_add(kw.saturating_mul(2)),
            (d.intermediate as u64).checked_mul(2),
        )
    } else {
        (Some(qw.max(kw)), Some(d.intermediate as u64))
    };
    let tensors = [
        (
            "model.embed_tokens.weight (vocab_size × hidden_size)",
            Some(d.vocab as u64),
            d.hidden,
        ),
        (
            "the attention projections (heads × head_dim × hidden_size)",
            qkv_rows,
            d.hidden,
        ),
        (
            "o_proj (hidden_size × heads × head_dim)",
            Some(qw),
            d.hidden,
        ),
        (
            "the MLP projections (intermediate_size × hidden_size)",
            mlp_rows,
            d.hidden,
        ),
    ];
    for (what, rows, cols) in tensors {
        let elements = rows.and_then(|r| r.checked_mul(cols as u64));
        if elements.is_none_or(|e| e > MAX_TENSOR_ELEMENTS) {
            return Err(too_large(file, what, elements));
        }
    }
    Ok(())
}

fn too_large(file: &str, what: &str, elements: Option<u64>) -> Error {
    let size = elements.map_or("more than 2⁶⁴".to_string(), |e| e.to_string());
    Error::input(
        file,
        format!(
            "{what} would have {size} elements; svdtune holds at most {MAX_TENSOR_ELEMENTS} \
             (2³¹ − 1) in one tensor"
        ),
    )
}
