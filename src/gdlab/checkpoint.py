"""Checkpoints: a nested training state written atomically to one ``.npz`` file, never pickled.

Layout of the file (a NumPy ``.npz``, i.e. a zip of ``.npy`` arrays):

* ``a0, a1, ...``: every NumPy array found in the state;
* ``__meta__``: UTF-8 JSON (as a uint8 array) holding ``format``, ``version``, the state with
  each array replaced by ``{"__array__": "a<i>"}``, and the caller's ``config``;
* ``__sha256__``: the SHA-256 of the JSON and of every array's name, dtype, shape and bytes.

``save_checkpoint`` writes to a temporary file in the same folder, fsyncs it, renames it over
the target with ``os.replace`` (atomic on POSIX and Windows) and fsyncs the folder, so a crash
at any moment leaves either the previous checkpoint or the new one, complete. ``load_checkpoint``
reads with ``allow_pickle=False`` and checks format, version and checksum.
"""

from __future__ import annotations

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

__all__ = ["save_checkpoint", "load_checkpoint", "FORMAT", "VERSION"]


def _encode(obj, arrays, where="state"):
    """JSON-ready copy of ``obj`` with arrays moved into ``arrays``."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biufc":
            raise TypeError(f"{where}: arrays of dtype {obj.dtype} cannot be saved")
        name = f"a{len(arrays)}"
        arrays[name] = np.ascontiguousarray(obj)
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


def _digest(meta: bytes, arrays: dict) -> str:
    h = hashlib.sha256()
    h.update(meta)
    for name in sorted(arrays):
        a = arrays[name]
        h.update(f"\0{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


def _write_npz(fileobj, arrays):
    """The writer (a seam for tests that simulate a crash part-way through a save)."""
    np.savez(fileobj, **arrays)


def save_checkpoint(path, state: dict, *, config: dict | None = None) -> Path:
    """Write ``state`` (nested dicts/lists of arrays, numbers, strings, None) to ``path``.

    ``config`` (JSON types) is stored beside it, e.g. the options that rebuild the network.
    The file at ``path`` is replaced atomically; until then the previous one stays intact.
    Returns the path.
    """
    path = Path(path)
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict, got {type(state).__name__}")
    arrays: dict[str, np.ndarray] = {}
    body = {"format": FORMAT, "version": VERSION, "state": _encode(state, arrays),
            "config": _encode(config, {}, "config") if config is not None else None}
    meta = json.dumps(body, allow_nan=True, sort_keys=True).encode("utf-8")
    arrays["__meta__"] = np.frombuffer(meta, dtype=np.uint8)
    arrays["__sha256__"] = np.frombuffer(_digest(meta, arrays).encode("ascii"), dtype=np.uint8)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot save checkpoint {path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)
    return path


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
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        raw = path.read_bytes()
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt and cannot be read "
                              f"({type(exc).__name__}: {exc})") from None
    if "__meta__" not in arrays or "__sha256__" not in arrays:
        raise CheckpointError(f"{path} is not a gdlab checkpoint (no __meta__/__sha256__)")
    meta = arrays["__meta__"].tobytes()
    stored = arrays.pop("__sha256__").tobytes().decode("ascii", errors="replace")
    if _digest(meta, arrays) != stored:
        raise CheckpointError(f"checkpoint {path} is corrupt: its SHA-256 checksum does not "
                              "match its contents")
    del arrays["__meta__"]
    try:
        body = json.loads(meta.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"checkpoint {path} has unreadable metadata: {exc}") from None
    if body.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gdlab checkpoint (format {body.get('format')!r})")
    if body.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {body.get('version')!r}, "
                              f"but this gdlab reads version {VERSION}")
    try:
        state = _decode(body["state"], arrays)
    except KeyError as exc:
        raise CheckpointError(f"checkpoint {path} is inconsistent: array {exc} is missing") from None
    return state, body.get("config")
