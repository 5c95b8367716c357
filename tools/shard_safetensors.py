#!/usr/bin/env python3
"""Splits a checkpoint's model.safetensors into shards with a model.safetensors.index.json, the
layout Hugging Face uses for large models (e.g. the 2.5B Nucleotide Transformers):

    model-00001-of-0000N.safetensors ... model-0000N-of-0000N.safetensors
    model.safetensors.index.json   {"metadata": {"total_size": BYTES},
                                    "weight_map": {"<tensor>": "model-0000K-of-0000N.safetensors"}}

Usage:
    python3 tools/shard_safetensors.py IN.safetensors OUT_DIR N_SHARDS

Tensors keep their order and bytes; they are cut into N_SHARDS runs of about equal size (each
shard holds at least one tensor). Standard library only: the safetensors format is written by
hand (u64 little-endian header length, JSON header padded with spaces to 8 bytes, data).
OUT_DIR may be the checkpoint itself once model.safetensors is moved away (bend reads
model.safetensors when both exist).
"""
import json
import os
import struct
import sys


def read_safetensors(path):
    """(header dict without __metadata__, metadata dict, data bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    return header, meta, raw[8 + n:]


def write_safetensors(path, entries, meta):
    """entries: list of (name, dtype, shape, bytes), written in order."""
    header = {"__metadata__": meta} if meta else {}
    offset = 0
    for name, dtype, shape, data in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for entry in entries:
            f.write(entry[3])


def shard(in_path, out_dir, n_shards):
    header, meta, data = read_safetensors(in_path)
    names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    if not 1 <= n_shards <= len(names):
        raise SystemExit(f"{in_path}: cannot cut {len(names)} tensors into {n_shards} shards")
    total = sum(header[k]["data_offsets"][1] - header[k]["data_offsets"][0] for k in names)
    os.makedirs(out_dir, exist_ok=True)
    weight_map, i, done = {}, 0, 0  # done: bytes written so far
    for s in range(n_shards):
        file = f"model-{s + 1:05d}-of-{n_shards:05d}.safetensors"
        entries = []
        goal = total * (s + 1) / n_shards
        # take tensors until this shard reaches its share, leaving one for each later shard
        while i < len(names) and (not entries or (len(names) - i > n_shards - s - 1 and
                                                  done < goal)):
            k = names[i]
            b, e = header[k]["data_offsets"]
            entries.append((k, header[k]["dtype"], header[k]["shape"], data[b:e]))
            weight_map[k] = file
            done += e - b
            i += 1
        write_safetensors(os.path.join(out_dir, file), entries, meta)
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    shard(sys.argv[1], sys.argv[2], int(sys.argv[3]))
