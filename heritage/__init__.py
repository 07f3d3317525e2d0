"""Model Heritage: recover model families and fine-tuning genealogy trees from weights alone."""

from heritage.config import ClusteringMethod, DistanceMetric, HeritageConfig, LayerFilter, TreeBuildingMethod
from heritage.exceptions import HeritageError
from heritage.pipeline import Heritage
from heritage.result import HeritageResult

__all__ = ["ClusteringMethod", "DistanceMetric", "Heritage", "HeritageConfig", "HeritageError", "HeritageResult",
           "LayerFilter", "TreeBuildingMethod"]
__version__ = "0.1.0"
