#!/usr/bin/env python3
"""Writes a bf16 copy of a Hugging Face model folder: every F32 tensor of model.safetensors
rounded to bfloat16 (to nearest, ties to even, as torch does), the other files copied as they
are. Pure Python (no torch, no numpy), for benchmarking svdtune's stored-precision path:

    python3 bench/to_bf16.py SRC_DIR DST_DIR
"""
import json
import shutil
import struct
import sys
from array import array
from pathlib import Path


def to_bf16(data: bytes) -> bytes:
    words = array("I")
    words.frombytes(data)
    if sys.byteorder != "little":
        words.byteswap()
    out = array("H", (((w + 0x7FFF + ((w >> 16) & 1)) >> 16) & 0xFFFF for w in words))
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


def convert_folder(src: Path, dst: Path, convert) -> None:
    """Copies the model folder `src` to `dst` with every tensor of model.safetensors passed
    through `convert(dtype, data) -> (dtype, data)`; the other files are copied as they are.
    Shared with bench/bf16_to_f32.py."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "model.safetensors":
            shutil.copy(f, dst / f.name)
    raw = (src / "model.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    body = raw[8 + n :]
    out_header, chunks, offset = {}, [], 0
    for name, entry in sorted(header.items(), key=lambda kv: kv[0]):
        if name == "__metadata__":
            out_header[name] = entry
            continue
        begin, end = entry["data_offsets"]
        dtype, data = convert(entry["dtype"], body[begin:end])
        out_header[name] = {
            "dtype": dtype,
            "shape": entry["shape"],
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(out_header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(dst / "model.safetensors", "wb") as out:
        out.write(struct.pack("<Q", len(text)))
        out.write(text)
        for c in chunks:
            out.write(c)


def main(src: Path, dst: Path) -> None:
    convert_folder(src, dst, lambda dtype, data: ("BF16", to_bf16(data)) if dtype == "F32" else (dtype, data))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
