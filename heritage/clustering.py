"""Families: clustering models on precomputed distances, with the number of families unknown by default.

Every method has the scikit-learn estimator shape: hyperparameters stored as given in
``__init__``, ``fit(D)`` returns ``self`` and leaves ``labels_`` (one integer per model).
When ``n_families`` is ``None`` it is estimated from the data. The pipeline feeds scaled
relatedness, whose natural cut is 1, and passes that cut as ``threshold`` to the threshold-based
methods (single linkage, DBSCAN's ``eps``, average linkage); without a threshold they use:

``threshold`` / ``dbscan``
    Cut where the sorted single-linkage merge heights (the minimum spanning tree's edges) jump
    by the largest factor, provided that factor is at least :data:`GAP_RATIO`; no such jump means
    one family. ``dbscan`` uses that cut as ``eps`` with ``min_samples=1``.
``hierarchical``
    Average linkage; the same largest-jump rule on its merge heights picks the number of families.
``kmeans``
    K-means on a classical multidimensional-scaling embedding of ``D``; the number of families
    is the one with the best silhouette (2..10), kept only if that silhouette is at least 0.5.
``auto``
    Families are the connected components of the relatedness graph: two models are related when
    their distance is at most ``threshold`` (the pipeline feeds the scaled relatedness of
    :func:`heritage.distance.relatedness`, related exactly when at most 1). With ``n_families``
    given, average linkage.
"""

from __future__ import annotations

import numpy as np

from heritage.config import ClusteringMethod

# scipy and scikit-learn are imported inside the methods that use them: the default (``auto``)
# needs neither, and importing them costs more than clustering a few hundred models.

GAP_RATIO = 3.0
_TINY = 1e-12


def _check(distances: np.ndarray) -> np.ndarray:
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"expected a square distance matrix, got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError("distance matrix holds NaN or Inf")
    d = (d + d.T) / 2.0
    np.fill_diagonal(d, 0.0)
    return d


def largest_gap_cut(heights: np.ndarray) -> float | None:
    """A height inside the largest multiplicative jump of sorted merge heights, or None if no clear jump."""
    h = np.sort(np.asarray(heights, dtype=np.float64))
    if h.size < 2:
        return None
    ratios = (h[1:] + _TINY) / (h[:-1] + _TINY)
    i = int(np.argmax(ratios))
    if ratios[i] < GAP_RATIO:
        return None
    return float(np.sqrt((h[i] + _TINY) * (h[i + 1] + _TINY)))


def _components(d: np.ndarray, cut: float) -> np.ndarray:
    """Connected components of the graph ``d <= cut`` (labels in order of each component's first member)."""
    adjacent = d <= cut
    labels = np.full(len(d), -1)
    for seed in range(len(d)):
        if labels[seed] >= 0:
            continue
        component = labels.max() + 1
        labels[seed] = component
        frontier = [seed]
        while frontier:
            reached = np.flatnonzero(adjacent[frontier].any(axis=0) & (labels < 0))
            labels[reached] = component
            frontier = reached.tolist()
    return labels


def _mst_heights(d: np.ndarray) -> np.ndarray:
    from scipy.sparse.csgraph import minimum_spanning_tree

    # Zero distances (duplicates) would vanish from a sparse MST; lift them by a hair.
    mst = minimum_spanning_tree(np.where(d > 0, d, _TINY) * (1 - np.eye(len(d)))).toarray()
    return mst[mst > 0]


class _FamilyClusterer:
    labels_: np.ndarray

    def __init__(self, n_families: int | None = None) -> None:
        self.n_families = n_families

    def fit(self, distances: np.ndarray) -> _FamilyClusterer:
        d = _check(distances)
        n = len(d)
        if n == 1:
            self.labels_ = np.zeros(1, dtype=int)
        elif self.n_families is not None and self.n_families >= n:
            self.labels_ = np.arange(n)
        else:
            self.labels_ = self._fit(d)
        self.labels_ = _relabel(self.labels_)
        return self

    def fit_predict(self, distances: np.ndarray) -> np.ndarray:
        return self.fit(distances).labels_

    def _fit(self, d: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _average_linkage(self, d: np.ndarray, k: int) -> np.ndarray:
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform

        return fcluster(linkage(squareform(d, checks=False), method="average"), t=k, criterion="maxclust") - 1


class ThresholdClustering(_FamilyClusterer):
    """Connected components below a distance threshold (given, or the largest-gap cut)."""

    def __init__(self, threshold: float | None = None, n_families: int | None = None) -> None:
        super().__init__(n_families)
        self.threshold = threshold

    def _cut(self, d: np.ndarray) -> float | None:
        if self.threshold is not None:
            return self.threshold
        heights = _mst_heights(d)
        if self.n_families is not None:
            # Keeping MST edges up to the k-th largest leaves exactly k components.
            return float(np.sort(heights)[::-1][self.n_families - 1])
        return largest_gap_cut(heights)

    def _fit(self, d: np.ndarray) -> np.ndarray:
        cut = self._cut(d)
        return np.zeros(len(d), dtype=int) if cut is None else _components(d, cut)


class DBSCANClustering(ThresholdClustering):
    """DBSCAN with ``eps`` from the threshold rule and ``min_samples=1`` (noise-free families)."""

    def _fit(self, d: np.ndarray) -> np.ndarray:
        cut = self._cut(d)
        if cut is None:
            return np.zeros(len(d), dtype=int)
        from sklearn.cluster import DBSCAN

        return DBSCAN(eps=max(cut, _TINY), min_samples=1, metric="precomputed").fit(d).labels_


class HierarchicalClustering(_FamilyClusterer):
    """Average-linkage agglomerative clustering, cut at ``threshold`` (given, or the largest-gap rule)."""

    def __init__(self, threshold: float | None = None, n_families: int | None = None) -> None:
        super().__init__(n_families)
        self.threshold = threshold

    def _fit(self, d: np.ndarray) -> np.ndarray:
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform

        z = linkage(squareform(d, checks=False), method="average")
        if self.n_families is not None:
            return fcluster(z, t=self.n_families, criterion="maxclust") - 1
        cut = self.threshold if self.threshold is not None else largest_gap_cut(z[:, 2])
        if cut is None:
            return np.zeros(len(d), dtype=int)
        return fcluster(z, t=cut, criterion="distance") - 1


class KMeansClustering(_FamilyClusterer):
    """K-means on a classical MDS embedding of the distances."""

    def __init__(self, n_families: int | None = None, seed: int = 0) -> None:
        super().__init__(n_families)
        self.seed = seed

    def _fit(self, d: np.ndarray) -> np.ndarray:
        from sklearn.metrics import silhouette_score

        x = classical_mds(d)
        if self.n_families is not None:
            return self._kmeans(x, self.n_families)
        best, best_labels = 0.5, np.zeros(len(d), dtype=int)
        for k in range(2, min(10, len(d) - 1) + 1):
            labels = self._kmeans(x, k)
            if len(set(labels)) < 2:
                continue
            score = silhouette_score(d, labels, metric="precomputed")
            if score > best:
                best, best_labels = score, labels
        return best_labels

    def _kmeans(self, x: np.ndarray, k: int) -> np.ndarray:
        from sklearn.cluster import KMeans

        return KMeans(n_clusters=k, n_init=10, random_state=self.seed).fit(x).labels_


class RelatednessClustering(_FamilyClusterer):
    """Connected components of 'distance <= threshold' (``auto``; see the module docstring)."""

    def __init__(self, threshold: float = 1.0, n_families: int | None = None) -> None:
        super().__init__(n_families)
        self.threshold = threshold

    def _fit(self, d: np.ndarray) -> np.ndarray:
        if self.n_families is not None:
            return self._average_linkage(d, self.n_families)
        return _components(d, self.threshold)


def classical_mds(d: np.ndarray, dims: int = 8) -> np.ndarray:
    """Torgerson embedding: points whose Euclidean distances approximate ``d``."""
    n = len(d)
    j = np.eye(n) - np.ones((n, n)) / n
    b = -0.5 * j @ (d**2) @ j
    values, vectors = np.linalg.eigh(b)
    order = np.argsort(values)[::-1][: min(dims, n)]
    return vectors[:, order] * np.sqrt(np.maximum(values[order], 0.0))


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Labels 0..k-1 in order of first appearance, so results are stable."""
    seen: dict[int, int] = {}
    return np.array([seen.setdefault(int(x), len(seen)) for x in labels], dtype=int)


def make_clusterer(method: ClusteringMethod, n_families: int | None, seed: int = 0,
                   threshold: float | None = None) -> _FamilyClusterer:
    """The registry of named clustering methods.

    ``threshold`` is the natural cut of the distances given, if they have one (the pipeline's
    scaled relatedness: 1); ``None`` estimates cuts from the data. ``auto`` needs one.
    """
    if method is ClusteringMethod.AUTO:
        return RelatednessClustering(threshold=1.0 if threshold is None else threshold, n_families=n_families)
    if method is ClusteringMethod.THRESHOLD:
        return ThresholdClustering(threshold=threshold, n_families=n_families)
    if method is ClusteringMethod.DBSCAN:
        return DBSCANClustering(threshold=threshold, n_families=n_families)
    if method is ClusteringMethod.HIERARCHICAL:
        return HierarchicalClustering(threshold=threshold, n_families=n_families)
    return KMeansClustering(n_families=n_families, seed=seed)
