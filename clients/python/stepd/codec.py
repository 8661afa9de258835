"""Tensor encodings stepd speaks: raw little-endian float32/bf16/f16 and safetensors."""

from __future__ import annotations

import json
import struct
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import numpy as np

#: (name, shape) of every tensor of a session, in declared order.
Layout = List[Tuple[str, Tuple[int, ...]]]

_F32 = np.dtype("<f4")


def count(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def to_f32(name: str, value, shape: Sequence[int]) -> np.ndarray:
    """``value`` as a contiguous little-endian float32 array of ``count(shape)`` elements."""
    a = np.asarray(value)
    if a.dtype != _F32:
        a = a.astype(_F32)
    if a.size != count(shape):
        raise ValueError(f"tensor {name!r} has {a.size} elements {tuple(a.shape)}, "
                         f"the session declares shape {tuple(shape)} ({count(shape)} elements)")
    return np.ascontiguousarray(a.reshape(-1))


def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """Rounds float32 to bfloat16 (round to nearest, ties to even), as uint16 bit patterns."""
    bits = np.ascontiguousarray(a, dtype=_F32).view(np.uint32)
    nan = np.isnan(a)
    rounding = ((bits >> 16) & 1) + np.uint32(0x7FFF)
    out = ((bits + rounding) >> 16).astype(np.uint16)
    if nan.any():
        out[nan] = ((bits[nan] >> 16) | 0x0040).astype(np.uint16)  # keep NaN a (quiet) NaN
    return out


def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(_F32)


def encode_raw(layout: Layout, tensors: Mapping[str, object], dtype: str = "f32") -> bytes:
    """Every tensor of ``layout``, concatenated in declared order, in ``dtype``."""
    missing = [n for n, _ in layout if n not in tensors]
    if missing:
        raise ValueError(f"missing tensors {missing}; a binary body carries every tensor "
                         f"of the session in declared order: {[n for n, _ in layout]}")
    extra = sorted(set(tensors) - {n for n, _ in layout})
    if extra:
        raise ValueError(f"unknown tensors {extra}; the session declares {[n for n, _ in layout]}")
    flat = np.concatenate([to_f32(n, tensors[n], s) for n, s in layout]) if layout else np.zeros(0, _F32)
    if dtype in ("f32", "float32"):
        return flat.tobytes()
    if dtype == "bf16":
        return f32_to_bf16_bits(flat).astype("<u2").tobytes()
    if dtype == "f16":
        return flat.astype("<f2").tobytes()
    raise ValueError(f"dtype must be 'f32', 'bf16' or 'f16', got {dtype!r}")


def decode_raw(layout: Layout, data: bytes, dtype: str = "f32") -> Dict[str, np.ndarray]:
    """Raw values in declared order (float32, or 16-bit with ``dtype`` bf16/f16) back into named
    float32 arrays of their declared shapes."""
    total = sum(count(s) for _, s in layout)
    width = 4 if dtype == "f32" else 2
    if len(data) != width * total:
        raise ValueError(f"expected {width * total} bytes ({total} {dtype} values), got {len(data)}")
    if dtype == "f32":
        flat = np.frombuffer(data, dtype=_F32)
    elif dtype == "bf16":
        flat = bf16_bits_to_f32(np.frombuffer(data, dtype="<u2"))
    elif dtype == "f16":
        flat = np.frombuffer(data, dtype="<f2").astype(np.float32)
    else:
        raise ValueError(f"dtype must be 'f32', 'bf16' or 'f16', got {dtype!r}")
    out: Dict[str, np.ndarray] = {}
    offset = 0
    for name, shape in layout:
        n = count(shape)
        out[name] = flat[offset:offset + n].astype(np.float32).reshape(shape)
        offset += n
    return out


_ST_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "F64": np.dtype("<f8"),
              "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "U8": np.dtype("u1")}


def encode_safetensors(tensors: Iterable[Tuple[str, np.ndarray]], metadata: Mapping[str, str] = ()) -> bytes:
    """A safetensors file of float32 tensors (name, array) in the given order."""
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in dict(metadata).items()}
    blobs = []
    offset = 0
    for name, array in tensors:
        a = np.ascontiguousarray(np.asarray(array, dtype=_F32))
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # align the data to 8 bytes, as the reference writer does
    return struct.pack("<Q", len(head)) + head + b"".join(blobs)


def decode_safetensors(data: bytes) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """A safetensors file into (name → array, metadata). F32/F16/BF16 become float32."""
    if len(data) < 8:
        raise ValueError("not a safetensors file: shorter than its 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("not a safetensors file: header runs past the end")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    metadata = header.pop("__metadata__", {}) or {}
    out: Dict[str, np.ndarray] = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        start, end = info["data_offsets"]
        raw = data[base + start:base + end]
        shape = tuple(info["shape"])
        if info["dtype"] == "BF16":
            arr = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
        elif info["dtype"] in _ST_DTYPES:
            arr = np.frombuffer(raw, dtype=_ST_DTYPES[info["dtype"]])
            if arr.dtype.kind == "f":
                arr = arr.astype(np.float32)
        else:
            raise ValueError(f"tensor {name!r}: unsupported dtype {info['dtype']}")
        out[name] = arr.reshape(shape).copy()
    return out, metadata
