//! A small GGUF writer for the error tests: every field can be set to anything, including values
//! a real writer never produces.

/// A metadata value: its type code and encoded bytes.
pub struct Kv(pub u32, pub Vec<u8>);

pub fn string_bytes(s: &str) -> Vec<u8> {
    let mut b = (s.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(s.as_bytes());
    b
}

pub fn kv_str(s: &str) -> Kv {
    Kv(8, string_bytes(s))
}
pub fn kv_u32(v: u32) -> Kv {
    Kv(4, v.to_le_bytes().to_vec())
}
pub fn kv_f32(v: f32) -> Kv {
    Kv(6, v.to_le_bytes().to_vec())
}
pub fn kv_str_array(items: &[&str]) -> Kv {
    let mut b = 8u32.to_le_bytes().to_vec();
    b.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for s in items {
        b.extend(string_bytes(s));
    }
    Kv(9, b)
}

pub fn kv_f32_array(items: &[f32]) -> Kv {
    let mut b = 6u32.to_le_bytes().to_vec();
    b.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for v in items {
        b.extend_from_slice(&v.to_le_bytes());
    }
    Kv(9, b)
}

/// One tensor: name, dims (innermost first), type code, data, and an offset that overrides the
/// aligned one the writer would give.
pub struct Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub ty: u32,
    pub data: Vec<u8>,
    pub offset: Option<u64>,
}

pub struct Gguf {
    pub magic: [u8; 4],
    pub version: u32,
    pub kv: Vec<(String, Kv)>,
    pub tensors: Vec<Tensor>,
}

impl Gguf {
    pub fn set(&mut self, key: &str, value: Kv) -> &mut Self {
        self.kv.retain(|(k, _)| k != key);
        self.kv.push((key.to_string(), value));
        self
    }

    pub fn tensor_mut(&mut self, name: &str) -> &mut Tensor {
        self.tensors.iter_mut().find(|t| t.name == name).unwrap()
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut b = self.magic.to_vec();
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        b.extend_from_slice(&(self.kv.len() as u64).to_le_bytes());
        for (k, v) in &self.kv {
            b.extend(string_bytes(k));
            b.extend_from_slice(&v.0.to_le_bytes());
            b.extend_from_slice(&v.1);
        }
        let mut offset = 0u64;
        let mut data = Vec::new();
        for t in &self.tensors {
            b.extend(string_bytes(&t.name));
            b.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&t.ty.to_le_bytes());
            b.extend_from_slice(&t.offset.unwrap_or(offset).to_le_bytes());
            data.extend_from_slice(&t.data);
            data.resize(data.len().next_multiple_of(32), 0);
            offset = data.len() as u64;
        }
        b.resize(b.len().next_multiple_of(32), 0);
        b.extend(data);
        b
    }
}

fn f32_tensor(name: &str, dims: &[u64], seed: u32) -> Tensor {
    let n: u64 = dims.iter().product();
    let data = (0..n)
        .flat_map(|i| {
            let x = ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32;
            (x / (1 << 24) as f32 - 0.5).to_le_bytes()
        })
        .collect();
    Tensor {
        name: name.into(),
        dims: dims.to_vec(),
        ty: 0,
        data,
        offset: None,
    }
}

/// A valid one-layer llama: hidden 32, 4 heads / 2 KV heads of 8, MLP 64, vocab 16, tied.
pub fn tiny_llama() -> Gguf {
    let mut kv = Vec::new();
    for (k, v) in [
        ("general.architecture", kv_str("llama")),
        ("llama.block_count", kv_u32(1)),
        ("llama.context_length", kv_u32(64)),
        ("llama.embedding_length", kv_u32(32)),
        ("llama.feed_forward_length", kv_u32(64)),
        ("llama.attention.head_count", kv_u32(4)),
        ("llama.attention.head_count_kv", kv_u32(2)),
        ("llama.attention.layer_norm_rms_epsilon", kv_f32(1e-5)),
    ] {
        kv.push((k.to_string(), v));
    }
    let tensors = [
        ("token_embd.weight", vec![32, 16]),
        ("output_norm.weight", vec![32]),
        ("blk.0.attn_norm.weight", vec![32]),
        ("blk.0.ffn_norm.weight", vec![32]),
        ("blk.0.attn_q.weight", vec![32, 32]),
        ("blk.0.attn_k.weight", vec![32, 16]),
        ("blk.0.attn_v.weight", vec![32, 16]),
        ("blk.0.attn_output.weight", vec![32, 32]),
        ("blk.0.ffn_gate.weight", vec![32, 64]),
        ("blk.0.ffn_up.weight", vec![32, 64]),
        ("blk.0.ffn_down.weight", vec![64, 32]),
    ]
    .iter()
    .enumerate()
    .map(|(i, (n, d))| f32_tensor(n, d, i as u32))
    .collect();
    Gguf {
        magic: *b"GGUF",
        version: 3,
        kv,
        tensors,
    }
}

/// [`tiny_llama`] with a small gpt2 vocabulary (the 256 byte symbols are not all there, which
/// BPE allows) sized to the 16 embedding rows.
pub fn tiny_llama_with_vocab() -> Gguf {
    let mut g = tiny_llama();
    let tokens = [
        "<s>", "</s>", "a", "b", "c", "ab", "abc", "Ġ", "Ġa", "d", "e", "f", "g", "h", "i", "j",
    ];
    g.set("tokenizer.ggml.model", kv_str("gpt2"))
        .set("tokenizer.ggml.pre", kv_str("smollm"))
        .set("tokenizer.ggml.tokens", kv_str_array(&tokens))
        .set(
            "tokenizer.ggml.merges",
            kv_str_array(&["a b", "ab c", "Ġ a"]),
        );
    g
}
