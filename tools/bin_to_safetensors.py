#!/usr/bin/python3
"""Converts a PyTorch checkpoint (pytorch_model.bin: a pickled state dict) to model.safetensors,
the only weights format bend reads. Needs only python3-torch (no `safetensors` package).

    /usr/bin/python3 tools/bin_to_safetensors.py pytorch_model.bin model.safetensors

Loads with torch.load(weights_only=True), so a pickle cannot run code. Every tensor is written
with its own bytes (tied weights, e.g. an MLM decoder sharing the word embeddings, become two
copies), names unchanged, sorted. With the `safetensors` package the equivalent one-liner is
    python3 -c "import sys,torch; from safetensors.torch import save_file; save_file({k: v.clone().contiguous() for k, v in torch.load(sys.argv[1], map_location='cpu', weights_only=True).items()}, sys.argv[2], {'format': 'pt'})" pytorch_model.bin model.safetensors
"""
import json
import struct
import sys

import torch

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
          torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}


def convert(src, dst):
    state = torch.load(src, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            raise SystemExit(f"{src}: '{name}' is not a tensor")
        if t.dtype not in DTYPES:
            raise SystemExit(f"{src}: '{name}' has dtype {t.dtype}, which safetensors lacks")
        t = t.detach().contiguous().reshape(-1)
        data = t.view(torch.uint8).numpy().tobytes() if t.numel() else b""  # little-endian host
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(state[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    print(f"{dst}: {len(blobs)} tensors, {offset} bytes of data")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    convert(sys.argv[1], sys.argv[2])
