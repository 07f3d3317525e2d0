"""Tensor -> numpy conversion shared by the readers."""

from __future__ import annotations

import numpy as np
import torch

_WIDEN = {torch.bfloat16, torch.float16}


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """Half precision (which numpy cannot hold as bf16) is widened to float32, one block at a time."""
    tensor = tensor.detach()
    if tensor.dtype in _WIDEN or (tensor.is_floating_point() and tensor.element_size() == 1):
        tensor = tensor.to(torch.float32)
    return tensor.contiguous().numpy()


_TORCH_TO_NAME = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def dtype_name(dtype: torch.dtype) -> str:
    return _TORCH_TO_NAME.get(dtype, str(dtype).replace("torch.", "").upper())
