#!/usr/bin/env python3
"""Writes an f32 copy of a bf16 Hugging Face model folder: every BF16 tensor of model.safetensors
widened to float32 exactly (a bf16 is the top half of an f32), the other files copied as they are.
The f32 path's reference for the stored-precision benchmarks (bench/stored_quality.sh,
bench/page_quality.mjs):

    python3 bench/bf16_to_f32.py SRC_DIR DST_DIR
"""
import sys
from pathlib import Path

import numpy as np

from to_bf16 import convert_folder


def to_f32(dtype: str, data: bytes) -> tuple[str, bytes]:
    if dtype != "BF16":
        return dtype, data
    return "F32", (np.frombuffer(data, "<u2").astype("<u4") << 16).tobytes()


def main(src: Path, dst: Path) -> None:
    convert_folder(src, dst, to_f32)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
