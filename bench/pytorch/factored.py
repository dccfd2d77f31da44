"""The factored SVD linear layer that svdtune's engine computes, written in PyTorch, and the helpers
that put it (or the reference library `svd-training`) into a transformers causal LM.

`FactoredLinear`: y = x W'ᵀ + ((x V) ⊙ Σ) Uᵀ (+ bias), with W' [m, n], U [m, q], V [n, q] and the
bias frozen buffers and only Σ [q] a parameter, so autograd computes the input gradient and dΣ but
no weight gradient. `factor_model` decomposes every planned linear layer (q/k/v/o, gate/up/down,
lm_head; the tied head gets its own copy of the embedding) with `torch.svd_lowrank(W, q, niter=2)`,
q = max(1, floor(min(m, n) · fraction)), and leaves Σ and the RMSNorm weights trainable, the rest
(embedding included) frozen: the trainable set of `svdtune train`.

`apply_svd_training` applies `svd-training` 0.0.2 as its README shows
(`SVDForCausalLM.create_from_model(model, rank_fraction)`), which decomposes the same layers, keeps
the RMSNorm weights and the token embedding trainable, and recomputes W' + U diag(Σ) Vᵀ densely in
every forward pass.
"""

import logging
import math

import torch
import torch.nn.functional as F

LAYER_MODULES = [
    ("self_attn", "q_proj"),
    ("self_attn", "k_proj"),
    ("self_attn", "v_proj"),
    ("self_attn", "o_proj"),
    ("mlp", "gate_proj"),
    ("mlp", "up_proj"),
    ("mlp", "down_proj"),
]
NORM_SUFFIXES = ("input_layernorm.weight", "post_attention_layernorm.weight", "model.norm.weight")


def rank_for(m, n, fraction):
    r = min(m, n)
    return max(1, min(r, math.floor(r * fraction)))


class FactoredLinear(torch.nn.Module):
    """W = W' + U diag(Σ) Vᵀ applied as two thin products; only `sigma` is a parameter."""

    def __init__(self, w_res, u, sigma, v, bias=None):
        super().__init__()
        self.register_buffer("w_res", w_res.contiguous())  # [m, n]
        self.register_buffer("u", u.contiguous())  # [m, q]
        self.register_buffer("v", v.contiguous())  # [n, q]
        self.register_buffer("bias", None if bias is None else bias.contiguous())  # [m]
        self.sigma = torch.nn.Parameter(sigma.contiguous())  # [q]

    @staticmethod
    def from_weight(w, fraction, bias=None):
        w = w.detach()
        m, n = w.shape
        q = rank_for(m, n, fraction)
        u, s, v = torch.svd_lowrank(w, q=q, niter=2)
        return FactoredLinear(w - (u * s) @ v.T, u, s, v, None if bias is None else bias.detach())

    def forward(self, x):
        y = F.linear(x, self.w_res, self.bias)
        return y + F.linear((x @ self.v) * self.sigma, self.u)


def planned_linears(model):
    """(parent module, attribute name, full name) of every planned layer, in svdtune's plan order."""
    out = []
    for l, layer in enumerate(model.model.layers):
        for block, name in LAYER_MODULES:
            out.append((getattr(layer, block), name, f"model.layers.{l}.{block}.{name}"))
    out.append((model, "lm_head", "lm_head"))
    return out


def factor_model(model, fraction):
    """Replace every planned layer by a FactoredLinear; freeze all but Σ and the RMSNorm weights.
    Returns the trainable parameters."""
    for parent, attr, _ in planned_linears(model):
        lin = getattr(parent, attr)
        w = lin.weight.detach().clone()  # the tied head gets its own copy of the embedding
        setattr(parent, attr, FactoredLinear.from_weight(w, fraction, lin.bias))
    model.config.tie_word_embeddings = False
    trainable = []
    for name, p in model.named_parameters():
        keep = name.endswith(".sigma") or name.endswith(NORM_SUFFIXES)
        p.requires_grad_(keep)
        if keep:
            trainable.append(p)
    return trainable


def apply_svd_training(model, fraction):
    """`svd-training` 0.0.2 as published; returns (model, its trainable parameters)."""
    from svd_training.svd_model import SVDForCausalLM

    for name in ("svd_training.svd_model", "svd_training.svd_linear"):
        logging.getLogger(name).setLevel(logging.WARNING)
    model = SVDForCausalLM.create_from_model(model, rank_fraction=fraction)
    return model, [p for p in model.parameters() if p.requires_grad]
