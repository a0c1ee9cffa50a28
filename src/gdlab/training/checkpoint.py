"""Checkpoints: a nested training state written atomically to one ``.npz`` file, never pickled.

The same sealed file carries other records under their own ``format`` name and version: a
run's model (``gdlab-model``, :mod:`gdlab.lab.run_model`) is written with :func:`save_sealed`
and read with :func:`load_sealed`, so that both get the same atomic write, checksum and
version check.

Layout of the file (a NumPy ``.npz``, i.e. a zip of ``.npy`` arrays):

* ``a0, a1, ...``: every NumPy array found in the state;
* ``__meta__``: UTF-8 JSON (as a uint8 array) holding ``format``, ``version``, the state with
  each array replaced by ``{"__array__": "a<i>"}``, and the caller's ``config``;
* the zip's archive comment: ``gdlab-sha256:`` and the SHA-256 of every other byte of the
  file, so that any flipped bit or truncation is detected before anything is parsed.

``save_checkpoint`` writes to a temporary file in the same folder, fsyncs it, renames it over
the target with ``os.replace`` (atomic on POSIX and Windows) and fsyncs the folder, so a crash
at any moment leaves either the previous checkpoint or the new one, complete. ``load_checkpoint``
checks the checksum, then reads with ``allow_pickle=False`` and checks format and version.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from gdlab.errors import CheckpointError

FORMAT = "gdlab-checkpoint"
VERSION = 1

__all__ = ["save_checkpoint", "load_checkpoint", "save_sealed", "load_sealed", "FORMAT", "VERSION"]


def _encode(obj, arrays, where="state"):
    """JSON-ready copy of ``obj`` with arrays moved into ``arrays``."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"{where}: arrays of dtype {obj.dtype} cannot be saved")
        name = f"a{len(arrays)}"
        arrays[name] = obj if obj.flags.c_contiguous else obj.copy(order="C")
        return {"__array__": name}
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: dict keys must be strings, got {key!r}")
            if key == "__array__":
                raise ValueError(f"{where}: the key '__array__' is reserved")
            out[key] = _encode(value, arrays, f"{where}[{key!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"{where}: cannot save a {type(obj).__name__} (only arrays, dicts, lists, "
                    "numbers, strings, booleans and None)")


def _decode(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {key: _decode(value, arrays) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


_TAG = b"gdlab-sha256:"
_COMMENT_LEN = len(_TAG) + 64
_EOCD = b"PK\x05\x06"  # the zip's end-of-central-directory record: its last 22 bytes


def _seal(npz: bytes) -> bytes:
    """Put the SHA-256 of every other byte of the file into the zip's archive comment."""
    if len(npz) < 22 or npz[-22:-18] != _EOCD or npz[-2:] != b"\0\0":
        raise RuntimeError("unexpected zip layout from numpy.savez")
    body = npz[:-2]
    digest = hashlib.sha256(body).hexdigest().encode("ascii")
    return body + _COMMENT_LEN.to_bytes(2, "little") + _TAG + digest


def _unseal(raw: bytes, path, what="checkpoint") -> bytes:
    """The file's bytes once its checksum is verified (CheckpointError otherwise)."""
    n = _COMMENT_LEN + 2
    if len(raw) < n + 20 or raw[-_COMMENT_LEN:-64] != _TAG:
        if _TAG in raw[-(n + 22):] or not _readable_zip(raw):
            raise CheckpointError(f"{what} {path} is truncated or corrupt: its end (the "
                                  "archive directory and checksum) is missing or damaged")
        raise CheckpointError(f"{path} is not a gdlab {what} (it has no gdlab checksum)")
    if raw[-n:-_COMMENT_LEN] != _COMMENT_LEN.to_bytes(2, "little") or (
            hashlib.sha256(raw[:-n]).hexdigest().encode("ascii") != raw[-64:]):
        raise CheckpointError(f"{what} {path} is corrupt: its SHA-256 checksum does not "
                              "match its contents")
    return raw


def _readable_zip(raw: bytes) -> bool:
    try:
        zipfile.ZipFile(io.BytesIO(raw)).close()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False
    return True


def _write(fileobj, data: bytes) -> None:
    """Write the file's bytes (a seam for tests that simulate a crash part-way)."""
    fileobj.write(data)


def save_checkpoint(path, state: dict, *, config: dict | None = None) -> Path:
    """Write ``state`` (nested dicts/lists of arrays, numbers, strings, None) to ``path``.

    ``config`` (JSON types) is stored beside it, e.g. the options that rebuild the network.
    The file at ``path`` is replaced atomically; until then the previous one stays intact.
    Returns the path.
    """
    return save_sealed(path, state, format=FORMAT, version=VERSION, config=config)


def save_sealed(path, state: dict, *, format: str, version: int, config: dict | None = None,
                what: str = "checkpoint") -> Path:
    """Write ``state`` as a sealed file of ``format`` and ``version`` (see the module
    docstring): atomically, with a SHA-256 checksum, never pickled. ``what`` names the file
    in error messages ("checkpoint", "model file"). Returns the path."""
    path = Path(path)
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    arrays: dict[str, np.ndarray] = {}
    body = {"format": format, "version": version, "state": _encode(state, arrays),
            "config": _encode(config, {}, "config") if config is not None else None}
    meta = json.dumps(body, allow_nan=True, sort_keys=True).encode("utf-8")
    arrays["__meta__"] = np.frombuffer(meta, dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _write_atomically(path, _seal(buffer.getvalue()), what)
    return path


def _write_atomically(path: Path, data: bytes, what: str) -> None:
    """Temporary file in the same folder, fsync, rename over ``path``, fsync the folder."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        is_folder = folder.is_dir()
    except OSError as exc:  # e.g. a parent folder that this user may not enter
        raise _write_error(exc, path, what) from exc
    if not is_folder:
        raise FileNotFoundError(f"cannot save {what} {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise _write_error(exc, path, what) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            _write(f, data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _write_error(exc, path, what) from exc
        raise
    _fsync_folder(folder)
    _remove_stale_temporaries(folder, path.name)


def _write_error(exc: OSError, path, what="checkpoint") -> OSError:
    """The same kind of OSError (disk full, permission...), naming the file."""
    reason = exc.strerror or str(exc)
    return OSError(exc.errno, f"cannot write {what} {path} ({reason}); the previous "
                              f"{what} there, if any, is unchanged")


def _remove_stale_temporaries(folder, name):
    """Delete the partial files that an earlier save of ``name`` left when it was killed."""
    for stale in Path(folder).glob(f".{glob.escape(name)}.*.tmp"):
        try:
            stale.unlink()
        except OSError:
            pass


def _fsync_folder(folder):
    """Make the rename durable (POSIX); not possible on every platform, so best effort."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path) -> tuple[dict, dict | None]:
    """Read a checkpoint written by :func:`save_checkpoint`; returns ``(state, config)``.

    Raises :class:`gdlab.CheckpointError` naming the file when it is missing, truncated,
    corrupt (checksum or zip CRC mismatch), not a gdlab checkpoint or of another version.
    """
    return load_sealed(path, format=FORMAT, version=VERSION)


def load_sealed(path, *, format: str, version: int,
                what: str = "checkpoint") -> tuple[dict, dict | None]:
    """Read a file written by :func:`save_sealed` with this ``format`` and ``version``;
    returns ``(state, config)``. The checksum is verified before anything is parsed and
    arrays are read with ``allow_pickle=False``: no code in the file is ever run. Raises
    :class:`gdlab.CheckpointError` naming the file (``what``) and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"{what} {path} cannot be read: {exc}") from None
    raw = _unseal(raw, path, what)
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{what} {path} is corrupt and cannot be read "
                              f"({type(exc).__name__}: {exc})") from None
    if "__meta__" not in arrays:
        raise CheckpointError(f"{path} is not a gdlab {what} (no __meta__)")
    meta = arrays.pop("__meta__").tobytes()
    try:
        body = json.loads(meta.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{what} {path} has unreadable metadata: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != format:
        found = body.get("format") if isinstance(body, dict) else None
        raise CheckpointError(f"{path} is not a gdlab {what} (format {found!r}, expected "
                              f"{format!r})")
    if body.get("version") != version:
        raise CheckpointError(f"{what} {path} has format version {body.get('version')!r}, "
                              f"but this gdlab reads version {version}")
    try:
        state = _decode(body["state"], arrays)
    except KeyError as exc:
        raise CheckpointError(f"{what} {path} is inconsistent: array {exc} is missing") from None
    return state, body.get("config")
