"""Engine and service errors as HTTP answers, in one place: the app's exception handler and the hot
read layer (:mod:`api.hot_reads`) both answer through :func:`error_response`."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from api.deps import UnauthorizedError, WritesDisabledError
from api.uploads import DuplicateUploadError, UploadTooLargeError
from heritage.exceptions import (
    CheckpointError,
    ConfigurationError,
    GraphStoreUnavailableError,
    HeritageError,
    NotFoundError,
)

# Most specific first: the first class an error is an instance of gives the status.
STATUS = [(NotFoundError, 404), (UnauthorizedError, 401), (WritesDisabledError, 503), (DuplicateUploadError, 409),
          (UploadTooLargeError, 413), (GraphStoreUnavailableError, 503), (ConfigurationError, 422),
          (CheckpointError, 422), (HeritageError, 500)]


def error_response(exc: HeritageError) -> JSONResponse:
    """``{"error": class name, "detail": message, **extra}`` with the status of the error's class."""
    status = next(code for kind, code in STATUS if isinstance(exc, kind))
    extra = getattr(exc, "extra", {})
    return JSONResponse(status_code=status, content={"error": type(exc).__name__, "detail": str(exc), **extra})
