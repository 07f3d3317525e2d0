"""One exception root for the whole engine, with one subclass per kind of failure.

Callers at the edges (CLI, API) map these to exit codes and HTTP statuses in one place.
"""

from __future__ import annotations


class HeritageError(Exception):
    """Root of every error the engine raises on purpose."""


class CheckpointError(HeritageError):
    """A checkpoint could not be used. ``path`` names the offending file or directory."""

    def __init__(self, path: object, message: str) -> None:
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")


class CorruptCheckpointError(CheckpointError):
    """The file is truncated, damaged, or not in the format its name promises."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle needs more than tensors to load (it would run code); it was refused, not executed."""


class NotAWeightFileError(CheckpointError):
    """The file or directory holds no weight tensors."""


class NonFiniteWeightsError(CheckpointError):
    """A tensor holds NaN or Inf values."""


class DuplicateModelError(CheckpointError):
    """The same bytes were already seen under another id."""


class ArchitectureMismatchError(HeritageError):
    """Models that share too few parameters were asked to be compared."""


class TreeValidationError(HeritageError):
    """A genealogy tree broke an invariant (one root, no cycle, every member placed)."""


class ConfigurationError(HeritageError):
    """An option has a value the engine cannot use."""


class GraphStoreUnavailableError(HeritageError):
    """Neo4j could not be reached, refused the credentials, or went away mid-write."""

    families_written: tuple[str, ...] = ()  # from a write: the families committed (and intact) before it failed


class NotFoundError(HeritageError):
    """A model or family id that the graph does not hold."""
