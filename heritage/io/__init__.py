"""Checkpoint readers: one lazy tensor interface, one implementation per format, a factory by file type."""

from heritage.io.base import TensorInfo, TensorLoader, row_blocks
from heritage.io.discover import ModelSource, discover_models, open_model

__all__ = ["ModelSource", "TensorInfo", "TensorLoader", "discover_models", "open_model", "row_blocks"]
