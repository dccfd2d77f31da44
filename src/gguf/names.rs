//! llama.cpp tensor names → Hugging Face names, and undoing the row permutation llama.cpp's
//! converter applies to the query and key projections of llama-architecture models.
//!
//! `convert_hf_to_gguf.py` reorders the rows of each head of `q_proj` (and `k_proj`, with the KV
//! head count) from the rotate-half layout transformers uses to the interleaved pairs ggml's RoPE
//! uses: `reshape(n_head, 2, D/2, n_in).swapaxes(1, 2)`. So GGUF row `h·D + 2j + s` holds
//! Hugging Face row `h·D + s·D/2 + j` (`j < D/2`, `s ∈ {0, 1}`). Qwen2 and Qwen3 files are not
//! permuted (and Qwen3's per-head `attn_q_norm`/`attn_k_norm` weights keep their order).

/// Which layer projection or norm a per-layer GGUF name is.
const LAYER_PARTS: &[(&str, &str)] = &[
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
    ("attn_norm", "input_layernorm"),
    ("ffn_norm", "post_attention_layernorm"),
    ("attn_q_norm", "self_attn.q_norm"),
    ("attn_k_norm", "self_attn.k_norm"),
    // Phi-3's fused projections. Listed after the unfused ones, so reading `ffn_up` still gives
    // `mlp.up_proj` ([`hf_name`] takes the first match) while writing `mlp.gate_up_proj` gives
    // `ffn_up` as llama.cpp names Phi-3's fused gate/up projection ([`gguf_name`]).
    ("attn_qkv", "self_attn.qkv_proj"),
    ("ffn_up", "mlp.gate_up_proj"),
];

/// Gemma 3's norms, where llama.cpp's names mean other modules than in the table above:
/// `ffn_norm` is the MLP's input norm (`pre_feedforward_layernorm`), and the attention and MLP
/// outputs have norms of their own.
const GEMMA3_NORMS: &[(&str, &str)] = &[
    ("attn_norm", "input_layernorm"),
    ("post_attention_norm", "post_attention_layernorm"),
    ("ffn_norm", "pre_feedforward_layernorm"),
    ("post_ffw_norm", "post_feedforward_layernorm"),
];

/// Whether llama.cpp stores the norm weights of architecture `arch` with Gemma's `+ 1` (its
/// converter adds 1 to every `norm.weight` of Gemma models): the offset to subtract on import
/// and add on export.
pub fn norm_shift(arch: &str) -> f32 {
    if arch == "gemma3" { 1.0 } else { 0.0 }
}

/// [`hf_name`] for a file of architecture `arch` (Gemma 3's norms differ; Phi-3's `ffn_up` is
/// the fused gate/up projection).
pub fn hf_name_for(arch: &str, name: &str) -> Option<String> {
    if arch == "gemma3"
        && let Some((layer, part, kind)) = split_block(name)
        && let Some((_, hf)) = GEMMA3_NORMS.iter().find(|(g, _)| *g == part)
    {
        return Some(format!("model.layers.{layer}.{hf}.{kind}"));
    }
    if arch == "phi3"
        && let Some((layer, "ffn_up", kind)) = split_block(name)
    {
        return Some(format!("model.layers.{layer}.mlp.gate_up_proj.{kind}"));
    }
    hf_name(name)
}

/// [`gguf_name`] for an export to architecture `arch` (Gemma 3's norms differ).
pub fn gguf_name_for(arch: &str, hf: &str) -> Option<String> {
    if arch == "gemma3"
        && let Some(rest) = hf.strip_prefix("model.layers.")
        && let Some((layer, rest)) = rest.split_once('.')
        && let Some((part, kind)) = rest.rsplit_once('.')
        && let Some((g, _)) = GEMMA3_NORMS.iter().find(|(_, h)| *h == part)
    {
        return Some(format!("blk.{layer}.{g}.{kind}"));
    }
    gguf_name(hf)
}

/// `blk.N.PART.KIND` → `(N, PART, KIND)`.
fn split_block(name: &str) -> Option<(usize, &str, &str)> {
    let rest = name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    if layer.is_empty() || !layer.bytes().all(|b| b.is_ascii_digit()) || layer.len() > 9 {
        return None;
    }
    let (part, kind) = rest.rsplit_once('.')?;
    Some((layer.parse().ok()?, part, kind))
}

/// The Hugging Face name of the GGUF tensor `name`, `None` for a name this importer does not map
/// (another architecture's tensors, `rope_freqs`, …).
pub fn hf_name(name: &str) -> Option<String> {
    match name {
        "token_embd.weight" => return Some("model.embed_tokens.weight".into()),
        "output_norm.weight" => return Some("model.norm.weight".into()),
        "output.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    if layer.is_empty() || !layer.bytes().all(|b| b.is_ascii_digit()) || layer.len() > 9 {
        return None;
    }
    let layer: usize = layer.parse().ok()?;
    let (part, kind) = rest.rsplit_once('.')?;
    if kind != "weight" && kind != "bias" {
        return None;
    }
    let (_, hf) = LAYER_PARTS.iter().find(|(g, _)| *g == part)?;
    Some(format!("model.layers.{layer}.{hf}.{kind}"))
}

/// Which query/key permutation a tensor needs undone: the head count to undo it with.
pub fn permuted_heads(name: &str, n_head: usize, n_head_kv: usize) -> Option<usize> {
    let part = name.strip_prefix("blk.")?.split('.').nth(1)?;
    match part {
        "attn_q" => Some(n_head),
        "attn_k" => Some(n_head_kv),
        _ => None,
    }
}

/// Undoes llama.cpp's q/k row permutation of a row-major `[rows, cols]` tensor (a bias is
/// `[rows, 1]`) with `n_head` heads. `None` when `rows` is not a multiple of `2 · n_head`.
pub fn unpermute_rows(data: &[f32], rows: usize, cols: usize, n_head: usize) -> Option<Vec<f32>> {
    move_qk_rows(data, rows, cols, n_head, |hf, gg| (hf, gg))
}

/// [`unpermute_rows`] on a tensor kept as stored: `data` holds `rows` rows of `row_bytes` bytes
/// each (whole blocks), moved as they are.
pub fn unpermute_row_bytes(
    data: &[u8],
    rows: usize,
    row_bytes: usize,
    n_head: usize,
) -> Option<Vec<u8>> {
    move_qk_rows(data, rows, row_bytes, n_head, |hf, gg| (hf, gg))
}

/// Applies llama.cpp's q/k row permutation (the inverse of [`unpermute_rows`]) to a row-major
/// `[rows, cols]` tensor with `n_head` heads: GGUF row `h·D + 2j + s` takes Hugging Face row
/// `h·D + s·D/2 + j`. `None` when `rows` is not a multiple of `2 · n_head`.
pub fn permute_rows(data: &[f32], rows: usize, cols: usize, n_head: usize) -> Option<Vec<f32>> {
    move_qk_rows(data, rows, cols, n_head, |hf, gg| (gg, hf))
}

/// Copies rows between the two q/k layouts: for each Hugging Face row `hf` and its GGUF row
/// `gg`, `to_from(hf, gg)` names the (destination, source) rows.
fn move_qk_rows<T: Copy + Default>(
    data: &[T],
    rows: usize,
    cols: usize,
    n_head: usize,
    to_from: impl Fn(usize, usize) -> (usize, usize),
) -> Option<Vec<T>> {
    if n_head == 0 || !rows.is_multiple_of(2 * n_head) || data.len() != rows.checked_mul(cols)? {
        return None;
    }
    let d = rows / n_head;
    let half = d / 2;
    let mut out = vec![T::default(); data.len()];
    for h in 0..n_head {
        for s in 0..2 {
            for j in 0..half {
                let (to, from) = to_from(h * d + s * half + j, h * d + 2 * j + s);
                out[to * cols..(to + 1) * cols]
                    .copy_from_slice(&data[from * cols..(from + 1) * cols]);
            }
        }
    }
    Some(out)
}

/// The GGUF name of the Hugging Face tensor `hf` (the inverse of [`hf_name`]; also Phi-3's fused
/// `qkv_proj` → `attn_qkv` and `gate_up_proj` → `ffn_up`), for messages and the GGUF writer.
pub fn gguf_name(hf: &str) -> Option<String> {
    match hf {
        "model.embed_tokens.weight" => return Some("token_embd.weight".into()),
        "model.norm.weight" => return Some("output_norm.weight".into()),
        "lm_head.weight" => return Some("output.weight".into()),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.")?;
    let (layer, rest) = rest.split_once('.')?;
    let (part, kind) = rest.rsplit_once('.')?;
    let (g, _) = LAYER_PARTS.iter().find(|(_, h)| *h == part)?;
    Some(format!("blk.{layer}.{g}.{kind}"))
}
