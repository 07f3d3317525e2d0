"""Array conversions shared by the readers: half precision widened to float32, raw bytes decoded.

Nothing here imports torch at module level: only :func:`to_numpy` and :func:`dtype_name` (used
when torch itself had to load a pickle) need it.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# Storage dtypes numpy cannot hold, with their item size in bytes: read raw, widened to float32.
RAW_FLOATS = {"BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1}


def widen(array: np.ndarray) -> np.ndarray:
    """float16 becomes float32 (as every half-precision tensor does); other dtypes pass through."""
    return array.astype(np.float32) if array.dtype == np.float16 else array


def widen_raw(raw: np.ndarray, dtype: str) -> np.ndarray:
    """Decode the bytes of a bfloat16 / float8 tensor (little-endian, flat) to float32."""
    if dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2") if isinstance(raw, (bytes, bytearray)) else raw.view("<u2")
        return (bits.astype(np.uint32) << 16).view(np.float32)
    return _float8_table(dtype)[np.asarray(raw, dtype=np.uint8)]


@cache
def _float8_table(dtype: str) -> np.ndarray:
    """float32 value of every byte: ``F8_E4M3`` is torch's ``float8_e4m3fn`` (no infinities), ``F8_E5M2`` IEEE-like."""
    exp_bits, man_bits, bias = (4, 3, 7) if dtype == "F8_E4M3" else (5, 2, 15)
    byte = np.arange(256)
    sign = np.where(byte & 0x80, -1.0, 1.0)
    exp = (byte >> man_bits) & ((1 << exp_bits) - 1)
    man = byte & ((1 << man_bits) - 1)
    scale = float(1 << man_bits)
    value = np.where(exp == 0, man / scale * 2.0 ** (1 - bias), (1 + man / scale) * 2.0 ** (exp - bias))
    top = (1 << exp_bits) - 1
    if dtype == "F8_E4M3":
        value = np.where((exp == top) & (man == (1 << man_bits) - 1), np.nan, value)
    else:
        value = np.where(exp == top, np.where(man == 0, np.inf, np.nan), value)
    return (sign * value).astype(np.float32)


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A torch tensor as numpy; half precision (which numpy cannot hold as bf16) widened to float32."""
    import torch

    tensor = tensor.detach()
    if tensor.dtype in (torch.bfloat16, torch.float16) or (tensor.is_floating_point() and tensor.element_size() == 1):
        tensor = tensor.to(torch.float32)
    return tensor.contiguous().numpy()


def dtype_name(dtype: torch.dtype) -> str:
    import torch

    names = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
             torch.uint8: "U8", torch.bool: "BOOL"}
    return names.get(dtype, str(dtype).replace("torch.", "").upper())
