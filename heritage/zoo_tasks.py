"""Data and downstream tasks for the synthetic model zoo (see :mod:`heritage.zoo`).

Every task is built from scikit-learn's 8x8 digits data set, which ships with the package, so the
zoo needs no download.  An image is 64 integer "tokens" (pixel intensities 0..16).  Pre-training is
plain 10-way digit classification; fine-tuning draws one of several relabelled variants.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

PIXEL_VALUES = 17
"""Number of distinct pixel intensities (0..16), i.e. the vocabulary size before any resize."""

SEQUENCE_LENGTH = 64
"""Number of pixel positions in one 8x8 image."""

TASK_NAMES: tuple[str, ...] = ("digit_set", "parity", "less_than_5", "mod3", "subset7", "noisy10")
"""Downstream tasks a fine-tuned model may be trained on."""


@dataclass(frozen=True)
class Task:
    """A labelled data set: ``x`` are pixel tokens ``(N, 64)``, ``y`` labels in ``0..num_labels-1``."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    num_labels: int


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data.astype(np.int64), bunch.target.astype(np.int64)


def _task(name: str, x: np.ndarray, y: np.ndarray, num_labels: int) -> Task:
    return Task(name, torch.from_numpy(x.copy()), torch.from_numpy(y.copy()), num_labels)


def pretraining_task() -> Task:
    """Return the pre-training task: 10-way digit classification on all 1797 images.

    Returns
    -------
    Task
        The task named ``"digits10"`` with 10 labels.
    """
    x, y = _digits()
    return _task("digits10", x, y, 10)


def make_task(name: str, rng: np.random.Generator) -> Task:
    """Build the downstream task ``name``; any randomness (digit sets, noise) comes from ``rng``.

    Parameters
    ----------
    name : str
        One of :data:`TASK_NAMES`.
    rng : numpy.random.Generator
        Source of the task's random choices.

    Returns
    -------
    Task
        The relabelled (and possibly filtered or noised) data.

    Raises
    ------
    ValueError
        If ``name`` is not a known task.
    """
    x, y = _digits()
    if name == "digit_set":  # is the digit in a random set of five digits?
        chosen = rng.choice(10, size=5, replace=False)
        return _task(name, x, np.isin(y, chosen).astype(np.int64), 2)
    if name == "parity":
        return _task(name, x, y % 2, 2)
    if name == "less_than_5":
        return _task(name, x, (y < 5).astype(np.int64), 2)
    if name == "mod3":
        return _task(name, x, y % 3, 3)
    if name == "subset7":  # 7-way classification restricted to 7 random digits
        chosen = np.sort(rng.choice(10, size=7, replace=False))
        keep = np.isin(y, chosen)
        return _task(name, x[keep], np.searchsorted(chosen, y[keep]).astype(np.int64), 7)
    if name == "noisy10":  # 10-way classification with random pixel noise
        noise = rng.integers(-3, 4, size=x.shape)
        flip = rng.random(x.shape) < 0.3
        return _task(name, np.clip(x + noise * flip, 0, PIXEL_VALUES - 1), y, 10)
    raise ValueError(f"unknown task {name!r}; expected one of {TASK_NAMES}")


def draw_task(rng: np.random.Generator) -> Task:
    """Draw a downstream task uniformly from :data:`TASK_NAMES` and build it with ``rng``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the choice and of the task's own randomness.

    Returns
    -------
    Task
        The drawn task.
    """
    return make_task(str(TASK_NAMES[int(rng.integers(len(TASK_NAMES)))]), rng)


def subsample(task: Task, fraction: float, rng: np.random.Generator) -> Task:
    """Return a random subset holding ``fraction`` of the task's samples (at least one).

    Parameters
    ----------
    task : Task
        The full task.
    fraction : float
        Share of samples to keep, in ``(0, 1]``.
    rng : numpy.random.Generator
        Source of the permutation.

    Returns
    -------
    Task
        Same name and labels, fewer samples.
    """
    n = len(task.y)
    keep = torch.from_numpy(np.sort(rng.permutation(n)[: max(1, int(round(fraction * n)))]))
    return Task(task.name, task.x[keep], task.y[keep], task.num_labels)
