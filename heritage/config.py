"""Engine options: the named methods (enums whose values are the CLI names) and one frozen config object."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

from heritage.exceptions import ConfigurationError


class DistanceMetric(str, Enum):
    """Pairwise weight distances; values are the CLI names."""

    L2_DISTANCE = "l2"
    MATRIX_RANK = "rank"
    COSINE_SIMILARITY = "cosine"
    MOTHER = "mother"
    AUTO = "auto"


class ClusteringMethod(str, Enum):
    """Family clustering methods; values are the CLI names."""

    DBSCAN = "dbscan"
    KMEANS = "kmeans"
    THRESHOLD = "threshold"
    HIERARCHICAL = "hierarchical"
    AUTO = "auto"


class TreeBuildingMethod(str, Enum):
    """Genealogy tree builders; values are the CLI names."""

    MOTHER = "mother"
    DISTANCE_ONLY = "distance"
    KURTOSIS_ONLY = "kurtosis"


class DirectionStatistic(str, Enum):
    """The per-model scalar whose order gives edge direction; values are the CLI names."""

    AUTO = "auto"  # per family, the statistic whose order the family's data supports more strongly
    KURTOSIS = "kurtosis"  # summed excess kurtosis of the compared tensors (published MoTHer)
    NORM = "norm"  # Euclidean norm of the compared tensors (grows with training without weight decay)


class LayerFilter(str, Enum):
    """Which tensors feed distances and kurtosis."""

    MATRICES = "matrices"  # every 2-D weight matrix (default)
    SQUARE = "square"  # square 2-D matrices only, as in the published MoTHer code
    ALL = "all"  # every floating-point tensor


@dataclass(frozen=True)
class HeritageConfig:
    """Every engine option in one place. Only the CLI and the API build this from user input.

    Attributes
    ----------
    metric, clustering, tree:
        Named methods (see the enums).
    families:
        Force this many families in total; ``None`` estimates the number from the data.
    layer_filter:
        Which tensors are compared (default: 2-D weight matrices).
    min_shared_fraction:
        Two models are comparable only when the tensors they share (same normalised name and
        shape) hold at least this fraction of *each* model's parameters.
    relatedness_cosine:
        ``auto`` clustering joins two comparable models into one family when the cosine
        similarity of their compared weights is at least this (or their difference is low-rank;
        see :mod:`heritage.distance`). Independently initialised networks are close to orthogonal
        (cosine of order 1/sqrt(parameters)); fine-tunes of one base stay well above 0.2.
    mother_lambda:
        Weight of the kurtosis-direction penalty in the MoTHer edge cost (published: 0.3).
    rank_sketch:
        Columns of the random sketch used to compute difference ranks; ranks are exact up to it.
    chunk_bytes:
        Upper bound on the float64 buffer holding one tensor (or a row block of it) across all
        models of a block; bounds the scan's memory. The rank sketches the block pass keeps (so
        ranks need no second read) have a budget of the same size: beyond it they are recomputed
        per family instead.
    direction:
        Which per-model statistic orders parents before children (see :mod:`heritage.tree`).
    sign:
        Direction sign: ``None`` decides it per family from the data; +1 says the parent has the
        higher statistic, -1 the lower.
    """

    metric: DistanceMetric = DistanceMetric.AUTO
    clustering: ClusteringMethod = ClusteringMethod.AUTO
    tree: TreeBuildingMethod = TreeBuildingMethod.MOTHER
    direction: DirectionStatistic = DirectionStatistic.AUTO
    families: int | None = None
    layer_filter: LayerFilter = LayerFilter.MATRICES
    min_shared_fraction: float = 0.5
    relatedness_cosine: float = 0.2
    mother_lambda: float = 0.3
    rank_sketch: int = 32
    chunk_bytes: int = 256 * 2**20
    sign: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name, enum in (("metric", DistanceMetric), ("clustering", ClusteringMethod),
                           ("tree", TreeBuildingMethod), ("direction", DirectionStatistic),
                           ("layer_filter", LayerFilter)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, enum(value))
            except ValueError:
                choices = ", ".join(e.value for e in enum)
                raise ConfigurationError(f"unknown {name} {value!r}; choose one of: {choices}") from None
        if self.families is not None and self.families < 1:
            raise ConfigurationError(f"families must be >= 1, got {self.families}")
        if not 0.0 < self.min_shared_fraction <= 1.0:
            raise ConfigurationError("min_shared_fraction must lie in (0, 1]")
        if self.sign not in (None, 1, -1):
            raise ConfigurationError("sign must be None, 1 or -1")
        if self.rank_sketch < 1 or self.chunk_bytes < 1024:
            raise ConfigurationError("rank_sketch must be >= 1 and chunk_bytes >= 1024")

    def as_params(self) -> dict[str, object]:
        """Plain JSON-ready view, recorded with every run."""
        return {k: (v.value if isinstance(v, Enum) else v) for k, v in asdict(self).items()}
