"""A GGUF file of a model's real shape with random weights, as llama.cpp names and stores them, for
memory measurements of block-quantized models (`bench/record_only.sh --q4k`): every matrix in Q4_K
(Q5_0 where a row is not whole 256-value blocks, as llama.cpp's quantizer falls back) or Q8_0, norms
F32, no tokenizer. The blocks are random bytes with a small, finite scale (the
values are never used: `svdtune bench --record-only` runs no kernel).

    python bench/random_gguf.py CONFIG.json OUT.gguf [Q4_K|Q8_0]

Needs the `gguf` and `numpy` packages (tests/fixtures/requirements-goldens.txt). Architectures: the
config's model_type llama, qwen2, qwen3 or phi3 (fused attn_qkv / ffn_up).
"""

import json
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter
from gguf.constants import GGML_QUANT_SIZES


def main():
    config, out = sys.argv[1], sys.argv[2]
    qtype = T[sys.argv[3]] if len(sys.argv) > 3 else T.Q4_K
    c = json.load(open(config))
    arch = c["model_type"]
    assert arch in ("llama", "qwen2", "qwen3", "phi3"), arch
    hidden, inter, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    heads, kv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    head_dim = c.get("head_dim") or hidden // heads
    vocab = c["vocab_size"]
    rng = np.random.default_rng(0)

    w = GGUFWriter(out, arch)
    w.add_name(f"random {arch}")
    w.add_context_length(c.get("max_position_embeddings", 4096))
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(inter)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(c.get("rope_theta", 10000.0))
    w.add_layer_norm_rms_eps(c.get("rms_norm_eps", 1e-6))
    w.add_rope_dimension_count(head_dim)
    if head_dim != hidden // heads:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_vocab_size(vocab)
    if arch == "phi3":
        w.add_sliding_window(0)

    def matrix(name, rows, cols):
        # Rows that are not whole 256-value blocks fall back to Q5_0, as llama.cpp's quantizer
        # does for Q4_K (Qwen2.5-0.5B's 896 columns).
        ty = qtype
        if cols % GGML_QUANT_SIZES[ty][0] != 0:
            ty = T.Q5_0
        block, block_bytes = GGML_QUANT_SIZES[ty]
        assert cols % block == 0, (name, cols)
        data = rng.integers(0, 256, (rows, cols // block * block_bytes), dtype=np.uint8)
        # A small finite scale at the start of every block (Q4_K: d and dmin; Q5_0, Q8_0: d).
        blocks = data.reshape(rows, cols // block, block_bytes)
        scale = np.frombuffer(np.float16(0.01).tobytes(), dtype=np.uint8)
        for at in range(0, 4 if ty == T.Q4_K else 2, 2):
            blocks[:, :, at:at + 2] = scale
        w.add_tensor(name, data, raw_dtype=ty)

    def norm(name, n):
        w.add_tensor(name, (1 + 0.1 * rng.standard_normal(n)).astype(np.float32))

    q_w, kv_w = heads * head_dim, kv * head_dim
    matrix("token_embd.weight", vocab, hidden)
    norm("output_norm.weight", hidden)
    if not c.get("tie_word_embeddings", False):
        matrix("output.weight", vocab, hidden)
    for i in range(layers):
        p = f"blk.{i}."
        norm(p + "attn_norm.weight", hidden)
        norm(p + "ffn_norm.weight", hidden)
        if arch == "phi3":
            matrix(p + "attn_qkv.weight", q_w + 2 * kv_w, hidden)
            matrix(p + "ffn_up.weight", 2 * inter, hidden)
        else:
            matrix(p + "attn_q.weight", q_w, hidden)
            matrix(p + "attn_k.weight", kv_w, hidden)
            matrix(p + "attn_v.weight", kv_w, hidden)
            matrix(p + "ffn_gate.weight", inter, hidden)
            matrix(p + "ffn_up.weight", inter, hidden)
        matrix(p + "attn_output.weight", hidden, q_w)
        matrix(p + "ffn_down.weight", hidden, inter)
        if arch == "qwen2":
            for part, n in (("attn_q", q_w), ("attn_k", kv_w), ("attn_v", kv_w)):
                w.add_tensor(p + part + ".bias", np.zeros(n, dtype=np.float32))
        if arch == "qwen3":
            norm(p + "attn_q_norm.weight", head_dim)
            norm(p + "attn_k_norm.weight", head_dim)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
