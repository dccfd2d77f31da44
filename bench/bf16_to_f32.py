#!/usr/bin/env python3
"""Writes an f32 copy of a bf16 Hugging Face model folder: every BF16 tensor of model.safetensors
widened to float32 exactly (a bf16 is the top half of an f32), the other files copied as they are.
The f32 path's reference for the stored-precision benchmarks (bench/stored_quality.sh,
bench/page_quality.mjs):

    python3 bench/bf16_to_f32.py SRC_DIR DST_DIR
"""
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np


def main(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("model.safetensors"), dirs_exist_ok=True)
    raw = (src / "model.safetensors").read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out, tensors, at = {}, [], 0
    for name, info in header.items():
        if name == "__metadata__":
            out[name] = info
            continue
        a, b = info["data_offsets"]
        data = body[a:b]
        if info["dtype"] == "BF16":
            data = (np.frombuffer(data, "<u2").astype("<u4") << 16).tobytes()
            info = dict(info, dtype="F32")
        out[name] = dict(info, data_offsets=[at, at + len(data)])
        tensors.append(data)
        at += len(data)
    head = json.dumps(out).encode()
    head += b" " * (-len(head) % 8)
    with open(dst / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for t in tensors:
            f.write(t)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
