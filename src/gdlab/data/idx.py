"""The IDX file format (MNIST, Fashion-MNIST): a reader, and the two datasets built on it.

An IDX file is a 4-byte magic number, then one big-endian uint32 per dimension, then the
values in C order, big-endian::

    byte 0, 1   zero
    byte 2      type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte 3      number of dimensions
    4 * ndim    the dimensions
    rest        prod(dims) values

Reference: http://yann.lecun.com/exdb/mnist/ (section "The IDX file format").
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np

from gdlab import _checks

# type code -> big-endian dtype, as the format defines them
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

# Published files and their MD5 sums (as torchvision and the dataset authors publish them).
# The mirrors are tried in order; yann.lecun.com is left out because it now refuses robots.
_MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}
_FASHION_FILES = {
    "train_images": ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train_labels": ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    "test_images": ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
}
IDX_DATASETS = {
    "mnist": {
        "files": _MNIST_FILES,
        "mirrors": (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        "classes": list(range(10)),
    },
    "fashion_mnist": {
        "files": _FASHION_FILES,
        "mirrors": (
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        ),
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                    "Sneaker", "Bag", "Ankle boot"],
    },
}

DOWNLOAD_TIMEOUT_S = 20.0


def read_idx(path) -> np.ndarray:
    """Read one IDX file, gzip-compressed or raw, into a native-endian array of its dimensions.

    Compression is recognised by the gzip magic bytes, not the file name. Raises ValueError,
    naming the file, when it cannot be read, is not gzip-valid, has a bad magic number or an
    unknown type code, or holds fewer or more bytes than its header announces.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read IDX file '{path}': {exc.strerror or exc}") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"IDX file '{path}' is not a valid gzip file: {exc}") from None
    if len(raw) < 4:
        raise ValueError(f"IDX file '{path}' is truncated: {len(raw)} bytes, "
                         "shorter than the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"IDX file '{path}' has a bad magic number 0x{raw[:4].hex()} "
                         "(the first two bytes must be zero)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"IDX file '{path}' has unknown type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise ValueError(f"IDX file '{path}' declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX file '{path}' is truncated inside its header: {len(raw)} bytes, "
                         f"the header of {ndim} dimensions needs {header}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise ValueError(f"IDX file '{path}' is truncated: shape {dims} needs {expected} bytes "
                         f"of data, found {found}")
    if found > expected:
        raise ValueError(f"IDX file '{path}' has the wrong size: shape {dims} needs {expected} "
                         f"bytes of data, found {found} ({found - expected} extra)")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))  # a native, writable copy


def default_cache_dir(name: str) -> Path:
    """Folder where downloaded files of dataset ``name`` are kept: ~/.cache/gdlab/<name>/."""
    return Path.home() / ".cache" / "gdlab" / name


def _find(fname: str, folders) -> Path | None:
    # accept the published .gz name or the same file already decompressed
    names = (fname, fname[:-3]) if fname.endswith(".gz") else (fname,)
    for folder in folders:
        for n in names:
            candidate = folder / n
            if candidate.is_file():
                return candidate
    return None


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, dest: Path, md5: str) -> None:
    """Fetch url into dest through a temporary file, so that dest is whole or absent."""
    import urllib.request  # only when downloading: it pulls in http and email modules

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, \
                urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        got = _md5(Path(tmp))
        if got != md5:
            raise ValueError(f"checksum mismatch (md5 {got}, expected {md5})")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_idx_dataset(name: str, data_dir=None, *, download: bool = True, cache_dir=None):
    """Load MNIST or Fashion-MNIST: train and test concatenated, 70,000 rows for the real files.

    Files are looked for, under their published names (``.gz`` or decompressed), in
    ``data_dir``, ``data_dir/<name>/`` and ``cache_dir`` (default ~/.cache/gdlab/<name>/).
    Missing files are downloaded, when ``download`` is true, into ``data_dir/<name>/`` or the
    cache folder, and their published MD5 sum is checked. Returns
    ``(X, y, classes, feature_names, source)`` with X of shape (n, rows * cols), float64
    scaled to [0, 1], and y the int64 labels.
    """
    spec = IDX_DATASETS[_checks.choice("IDX dataset", name, IDX_DATASETS)]
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(name)
    folders = [cache]
    if data_dir is not None:
        folders = [Path(data_dir), Path(data_dir) / name, cache]
    target_dir = Path(data_dir) / name if data_dir is not None else cache

    paths, problems = _find_or_download(spec, folders, target_dir, download)
    missing = [spec["files"][k][0] for k, p in paths.items() if p is None]
    if missing:
        where = " or ".join(f"'{f}'" for f in folders)
        msg = (f"dataset {name!r}: missing file(s) {', '.join(missing)}; put them (.gz or "
               f"decompressed) in {where}, or name the folder with --data-dir")
        if not download:
            msg += " (downloads are disabled)"
        elif problems:
            msg += "; the download failed: " + "; ".join(problems)
        raise ValueError(msg)
    return _assemble(spec, paths)


def _find_or_download(spec, folders, target_dir, download):
    """Each file's path (None when missing) and what went wrong while downloading."""
    paths, problems, unreachable = {}, [], set()
    for key, (fname, md5) in spec["files"].items():
        found = _find(fname, folders)
        for mirror in spec["mirrors"] if found is None and download else ():
            if mirror in unreachable:  # offline: do not wait for every timeout again
                continue
            try:
                _download(mirror + fname, target_dir / fname, md5)
                found = target_dir / fname
                break
            except ValueError as exc:  # checksum mismatch
                problems.append(f"{mirror}{fname}: {exc}")
            except OSError as exc:  # URLError and timeouts are OSErrors
                unreachable.add(mirror)
                problems.append(f"{mirror}{fname}: {exc}")
        paths[key] = found
    return paths, problems


def _assemble(spec, paths):
    """Train and test images and labels, checked and concatenated."""
    parts = {key: read_idx(p) for key, p in paths.items()}
    X_parts, y_parts = [], []
    n_classes = len(spec["classes"])
    for split in ("train", "test"):
        images, labels = parts[f"{split}_images"], parts[f"{split}_labels"]
        img_path, lab_path = paths[f"{split}_images"], paths[f"{split}_labels"]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"IDX file '{img_path}' should hold uint8 images of shape "
                             f"(n, rows, cols), found {images.dtype} of shape {images.shape}")
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise ValueError(f"IDX file '{lab_path}' should hold integer labels of shape (n,), "
                             f"found {labels.dtype} of shape {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images in '{img_path}' but {len(labels)} labels "
                             f"in '{lab_path}'")
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"IDX file '{lab_path}' has labels outside 0..{n_classes - 1}")
        X_parts.append(images.reshape(len(images), -1))
        y_parts.append(labels)
    if X_parts[0].shape[1] != X_parts[1].shape[1]:
        raise ValueError(f"train images of {X_parts[0].shape[1]} pixels but test images of "
                         f"{X_parts[1].shape[1]} pixels")
    rows, cols = parts["train_images"].shape[1:]
    X = np.concatenate(X_parts).astype(np.float64) / 255.0
    y = np.concatenate(y_parts).astype(np.int64)
    feature_names = [f"pixel_{r}_{c}" for r in range(rows) for c in range(cols)]
    source = str(paths["train_images"].parent)
    return X, y, list(spec["classes"]), feature_names, source
