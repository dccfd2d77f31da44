"""Reference figures for the decomposition benchmark (bench/svd_decompose.rs): the time of
`torch.svd_lowrank(W, q, niter=2)` over every planned layer of a model (the call the reference
library `svd-training` makes), and the rank-q approximation error of a few layers.

Usage: python bench/pytorch/torch_svd_lowrank.py MODEL_DIR [--rank-fraction 0.1] [--repeats 3]

Prints, per run, the total seconds for
  - `lowrank q`:      torch.svd_lowrank(W, q=q, niter=2), as svd-training calls it;
  - `lowrank q+8`:    torch.svd_lowrank(W, q=q+8, niter=2) truncated to q (the oversampling
                      svdtune uses),
and, for the layers in QUALITY_LAYERS, the relative spectral and Frobenius error
‖W − U diag(s) Vᵀ‖ / ‖W‖ of both, next to the optimum (an exact SVD truncated to q).
"""

import argparse
import json
import math
import os
import time

import torch
from safetensors.torch import load_file

QUALITY_LAYERS = [
    "model.layers.0.self_attn.q_proj",
    "model.layers.0.self_attn.k_proj",
    "model.layers.14.mlp.down_proj",
    "model.layers.29.mlp.up_proj",
    "lm_head",
]


def planned_layers(cfg, tensors):
    """(module, W) in svdtune's plan order: per decoder layer q, k, v, o, gate, up, down; then lm_head."""
    out = []
    for l in range(cfg["num_hidden_layers"]):
        for mod in ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]:
            name = f"model.layers.{l}.{mod}"
            out.append((name, tensors[name + ".weight"]))
    head = tensors.get("lm_head.weight")
    if head is None:  # tied: lm_head is decomposed on its own copy of the embedding
        head = tensors["model.embed_tokens.weight"].clone()
    out.append(("lm_head", head))
    return out


def rank_for(m, n, fraction):
    r = min(m, n)
    return max(1, min(r, math.floor(r * fraction)))


def lowrank(w, q, extra):
    u, s, v = torch.svd_lowrank(w, q=min(q + extra, min(w.shape)), niter=2)
    return u[:, :q], s[:q], v[:, :q]


def errors(w, u, s, v):
    r = w - u @ torch.diag(s) @ v.T
    return (torch.linalg.matrix_norm(r, ord=2).item() / torch.linalg.matrix_norm(w, ord=2).item(),
            (r.norm() / w.norm()).item())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--rank-fraction", type=float, default=0.1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    tensors = load_file(os.path.join(args.model_dir, "model.safetensors"))
    layers = [(name, w.float().contiguous(), rank_for(*w.shape, args.rank_fraction))
              for name, w in planned_layers(cfg, tensors)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{len(layers)} layers, rank fraction {args.rank_fraction}")
    for extra, label in [(0, "lowrank q"), (8, "lowrank q+8")]:
        times = []
        for rep in range(args.repeats + 1):  # the first run warms up
            torch.manual_seed(rep)
            t0 = time.perf_counter()
            for _, w, q in layers:
                lowrank(w, q, extra)
            if rep > 0:
                times.append(time.perf_counter() - t0)
        print(f"{label:12} all layers: min {min(times):.3f} s, runs "
              + ", ".join(f"{t:.3f}" for t in times))
    print("quality: relative error of the rank-q approximation, spectral / Frobenius")
    torch.manual_seed(0)
    for name, w, q in layers:
        if name not in QUALITY_LAYERS:
            continue
        s_exact = torch.linalg.svdvals(w.double())
        opt_spec = (s_exact[q] / s_exact[0]).item() if q < len(s_exact) else 0.0
        opt_frob = (s_exact[q:].norm() / s_exact.norm()).item()
        a = errors(w, *lowrank(w, q, 0))
        b = errors(w, *lowrank(w, q, 8))
        print(f"  {name} [{w.shape[0]}x{w.shape[1]}] q={q}: optimum {opt_spec:.5f} / "
              f"{opt_frob:.5f}; lowrank q {a[0]:.5f} / {a[1]:.5f}; "
              f"lowrank q+8 {b[0]:.5f} / {b[1]:.5f}")


if __name__ == "__main__":
    main()
