"""Receiving uploads: a streamed multipart body to one staging file, archive unpacking, and model ids.

Nothing here trusts the client: the body is written to disk as it arrives and cut off at the size
limit (413) before it is complete; archives are unpacked member by member with every name, type
and size checked (no absolute paths, no ``..``, no links or devices, a bounded total size); the
model id a client asks for must be a plain relative path.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from heritage.exceptions import CheckpointError, HeritageError
from heritage.io import discover_models
from heritage.io.discover import PICKLE_SUFFIXES, SAFETENSORS_SUFFIXES, UNSUPPORTED_SUFFIXES, WEIGHT_SUFFIXES

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # defined for type checkers only

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
MAX_ARCHIVE_MEMBERS = 10_000
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
_FIELD_LIMIT = 1024  # bytes of a plain form field
# A file with one of these names makes its folder a model directory (heritage.io.discover), so a
# single uploaded file may not be stored under one: it would turn its parent into a model.
_HF_WEIGHT_FILE = re.compile(r"^(model|pytorch_model|adapter_model)(-\d+-of-\d+)?\.(safetensors|bin)$")


class UploadTooLargeError(HeritageError):
    """The upload (or an archive's unpacked content) is larger than the configured limit."""


class UploadRejectedError(CheckpointError):
    """The upload is not something the service accepts (wrong form, format, name or archive member)."""


class DuplicateUploadError(HeritageError):
    """The same bytes or the same id are already held; ``extra`` names the existing model."""

    def __init__(self, message: str, existing_id: str) -> None:
        super().__init__(message)
        self.extra = {"existing_id": existing_id}


@dataclass
class Received:
    path: Path  # the staged file
    filename: str  # as the client named it (basename only)
    sha256: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)


async def receive(request: Request, staging: Path, max_bytes: int) -> Received:
    """Stream a ``multipart/form-data`` body with a ``file`` part into ``staging``; other parts are small fields."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise UploadTooLargeError(f"upload of {int(declared)} bytes exceeds the limit of {max_bytes} bytes")
    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise UploadRejectedError("upload", "send multipart/form-data with the weights in a form field named 'file'")
    sink = _PartSink(staging, max_bytes)
    parser = MultipartParser(params[b"boundary"], sink.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            sink.check()
        parser.finalize()
        sink.check()
    except BaseException:
        sink.discard()
        raise
    return sink.finish()


class _PartSink:
    """Callbacks for the streaming parser: the ``file`` part goes to disk, hashed and counted."""

    def __init__(self, staging: Path, max_bytes: int) -> None:
        self.staging, self.max_bytes = staging, max_bytes
        self.fields: dict[str, bytearray] = {}
        self.digest = hashlib.sha256()
        self.size = 0
        self.filename: str | None = None
        self.handle: IO[bytes] | None = None
        self._headers: dict[bytes, bytes] = {}
        self._field_name = b""
        self._field_value = b""
        self._current: str | None = None
        self._error: HeritageError | None = None

    def callbacks(self) -> MultipartCallbacks:  # noqa: F821
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done, "on_part_data": self._data, "on_part_end": self._end}

    def _begin(self) -> None:
        self._headers, self._current = {}, None

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._field_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field_name.lower()] = self._field_value
        self._field_name, self._field_value = b"", b""

    def _headers_done(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        self._current = name
        if name == "file":
            if self.handle is not None:
                self._error = UploadRejectedError("upload", "send exactly one 'file' part")
                return
            self.filename = PurePosixPath(params.get(b"filename", b"").decode("utf-8", "replace")
                                          .replace("\\", "/")).name
            self.handle = open(self.staging, "wb")  # noqa: SIM115 - closed in finish/discard
        else:
            self.fields[name] = bytearray()

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._error is not None or self._current is None:
            return
        chunk = data[start:end]
        if self._current == "file" and self.handle is not None:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                self._error = UploadTooLargeError(f"upload exceeds the limit of {self.max_bytes} bytes")
                return
            self.digest.update(chunk)
            self.handle.write(chunk)
        elif self._current in self.fields:
            value = self.fields[self._current]
            if len(value) + len(chunk) > _FIELD_LIMIT:
                self._error = UploadRejectedError("upload", f"form field {self._current!r} is longer than "
                                                            f"{_FIELD_LIMIT} bytes")
                return
            value += chunk

    def _end(self) -> None:
        self._current = None

    def check(self) -> None:
        if self._error is not None:
            raise self._error

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.close()
        self.staging.unlink(missing_ok=True)

    def finish(self) -> Received:
        if self.handle is None or not self.filename:
            self.discard()
            raise UploadRejectedError("upload", "no 'file' part with a file name in the form")
        self.handle.close()
        fields = {k: bytes(v).decode("utf-8", "replace").strip() for k, v in self.fields.items()}
        return Received(self.staging, self.filename, self.digest.hexdigest(), self.size, fields)


# -- what was uploaded ----------------------------------------------------------------------------------
def archive_suffix(filename: str) -> str | None:
    lower = filename.lower()
    return next((s for s in ARCHIVE_SUFFIXES if lower.endswith(s)), None)


def check_format(filename: str) -> None:
    """Only weight files and archives of model directories are accepted (422 with the reason otherwise)."""
    suffix = PurePosixPath(filename.lower()).suffix
    if archive_suffix(filename) or suffix in WEIGHT_SUFFIXES:
        return
    accepted = ", ".join(WEIGHT_SUFFIXES + ARCHIVE_SUFFIXES)
    reason = UNSUPPORTED_SUFFIXES.get(suffix, f"{suffix or 'no suffix'} is not a weight format")
    raise UploadRejectedError(filename, f"{reason}; accepted: {accepted}")


def model_id(filename: str, requested: str | None) -> str:
    """The id (path under the data directory) an upload gets: the ``name`` field, else the file's name.

    A requested id is one or more ``/``-separated segments of letters, digits and ``._+-``,
    starting with a letter or digit (so no ``..``, no absolute paths, nothing hidden).
    """
    wanted = requested or (filename.removesuffix(archive_suffix(filename) or "") if archive_suffix(filename)
                           else filename)
    segments = wanted.split("/")
    if len(wanted) > 200 or not all(_NAME.match(s) for s in segments):
        raise UploadRejectedError(wanted, "a model name is 1-200 characters of '/'-separated segments of letters, "
                                          "digits and '._+-', each starting with a letter or digit")
    return wanted


def single_file_target(data_dir: Path, model: str, filename: str) -> Path:
    """Where a single uploaded weight file is stored so that a scan of ``data_dir`` gives it the id ``model``."""
    suffix = PurePosixPath(filename.lower()).suffix
    if model.lower().endswith(suffix):
        if _HF_WEIGHT_FILE.match(PurePosixPath(model).name) or PurePosixPath(model).name == "config.json":
            raise UploadRejectedError(model, "give the model a name (form field 'name'): a file called "
                                             f"{PurePosixPath(model).name!r} would turn its folder into a model")
        return data_dir / model
    name = "model.safetensors" if suffix in SAFETENSORS_SUFFIXES else "pytorch_model.bin"
    assert suffix in PICKLE_SUFFIXES or suffix in SAFETENSORS_SUFFIXES
    return data_dir / model / name


def check_free(data_dir: Path, target: Path, model: str) -> None:
    """The id must be new, and not nested inside another model (a scan would not see it there)."""
    if target.exists() or (data_dir / model).exists():
        raise DuplicateUploadError(f"a model with id {model!r} already exists", model)
    parent = (data_dir / model).parent
    while parent != data_dir:
        if parent.is_file() or (parent.is_dir() and any(s.path == parent for s in discover_models(parent))):
            existing = str(parent.relative_to(data_dir))
            raise DuplicateUploadError(f"{model!r} would lie inside model {existing!r}", existing)
        parent = parent.parent


def unpack(archive: Path, filename: str, into: Path, max_bytes: int) -> Path:
    """Unpack an archive of one model directory into ``into``; returns that directory.

    A single top-level folder is stripped. Rejected: absolute or ``..`` member names, links,
    devices, more than ``MAX_ARCHIVE_MEMBERS`` members, more than ``max_bytes`` unpacked.
    """
    into.mkdir(parents=True)
    total = 0
    for name, size, source in _members(archive, filename):
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not parts or name.startswith("/") or ".." in parts or ":" in parts[0]:
            raise UploadRejectedError(filename, f"archive member {name!r} has an unsafe path")
        total += size
        if total > max_bytes:
            raise UploadTooLargeError(f"{filename}: unpacked content exceeds the limit of {max_bytes} bytes")
        if source is None:
            (into / PurePosixPath(*parts)).mkdir(parents=True, exist_ok=True)
            continue
        target = into / PurePosixPath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with source as src, open(target, "wb") as dst:
            copied = _copy_bounded(src, dst, size)
        if copied != size:
            raise UploadRejectedError(filename, f"archive member {name!r} is damaged ({copied} of {size} bytes)")
    entries = [p for p in into.iterdir()]
    root = entries[0] if len(entries) == 1 and entries[0].is_dir() else into
    found = discover_models(root)
    if len(found) != 1 or found[0].path != root:
        raise UploadRejectedError(filename, "the archive must hold one Hugging Face model directory (weights as "
                                            "model*.safetensors or pytorch_model*.bin, sharded with their index, "
                                            "at its top level or in a single top-level folder)")
    return root


def _members(archive: Path, filename: str) -> Iterator[tuple[str, int, IO[bytes] | None]]:
    """(name, size, reader or None for a directory) per member; links and special files are refused."""
    try:
        if filename.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                infos = zf.infolist()
                _check_count(infos, filename)
                for info in infos:
                    mode = (info.external_attr >> 16) & 0o170000
                    if mode not in (0, 0o100000, 0o040000):
                        raise UploadRejectedError(filename, f"archive member {info.filename!r} is a link or a "
                                                            "special file")
                    yield info.filename, info.file_size, None if info.is_dir() else zf.open(info)
        else:
            with tarfile.open(archive, "r:*") as tf:
                members = tf.getmembers()
                _check_count(members, filename)
                for member in members:
                    if not (member.isfile() or member.isdir()):
                        raise UploadRejectedError(filename, f"archive member {member.name!r} is a link or a "
                                                            "special file")
                    yield member.name, member.size if member.isfile() else 0, (
                        tf.extractfile(member) if member.isfile() else None)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise UploadRejectedError(filename, f"not a readable archive: {exc}") from exc


def _check_count(members: list, filename: str) -> None:
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise UploadRejectedError(filename, f"archive holds {len(members)} members, more than {MAX_ARCHIVE_MEMBERS}")


def _copy_bounded(src: IO[bytes], dst: IO[bytes], size: int) -> int:
    """Copy at most ``size`` bytes (a member may claim less than it holds); returns what was copied."""
    copied = 0
    while copied < size and (block := src.read(min(2**20, size - copied))):
        dst.write(block)
        copied += len(block)
    return copied


def remove_path(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
