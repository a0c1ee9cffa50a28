"""Tests for gdlab.data and gdlab.data.idx: all offline; IDX files are written here with struct."""

import csv
import gzip
import hashlib
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gdlab.data import (
    DATASETS,
    MAX_CLASSES_FROM_WHOLE_NUMBERS,
    Dataset,
    infer_task,
    load_dataset,
    read_idx,
    split,
    standardize,
)
from gdlab.data import idx as idxmod

# ---------------------------------------------------------------- helpers

# IDX type code -> struct format letter (the format's definition, written independently)
STRUCT_CODES = {0x08: "B", 0x09: "b", 0x0B: "h", 0x0C: "i", 0x0D: "f", 0x0E: "d"}


def idx_bytes(values, shape, code):
    values = list(values)
    header = struct.pack(">BBBB", 0, 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    return header + struct.pack(f">{len(values)}{STRUCT_CODES[code]}", *values)


def write_idx(path, values, shape, code=0x08, gz=False):
    data = idx_bytes(values, shape, code)
    path = Path(path)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_csv(path, rows):
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def make_idx_set(folder, n_train=5, n_test=3, rows=4, cols=3, gz_train=True, gz_test=False,
                 seed=0):
    """Write the four MNIST files (small images) and return the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for part, n, gz in (("train", n_train, gz_train), ("t10k", n_test, gz_test)):
        images = rng.integers(0, 256, size=(n, rows, cols))
        images.flat[0], images.flat[1] = 0, 255
        labels = rng.integers(0, 10, size=n)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{part}-images-idx3-ubyte{suffix}", images.ravel().tolist(),
                  (n, rows, cols), 0x08, gz)
        write_idx(folder / f"{part}-labels-idx1-ubyte{suffix}", labels.tolist(), (n,), 0x08, gz)
        out[part] = (images, labels)
    return out


# ---------------------------------------------------------------- bundled datasets

@pytest.mark.parametrize("name, n, d, n_classes", [
    ("iris", 150, 4, 3), ("wine", 178, 13, 3), ("breast_cancer", 569, 30, 2),
    ("digits", 1797, 64, 10), ("diabetes", 442, 10, None),
])
def test_bundled_shapes_and_tasks(name, n, d, n_classes):
    ds = load_dataset(name)
    assert isinstance(ds, Dataset)
    assert ds.X.shape == (n, d) and ds.X.dtype == np.float64
    assert ds.y.shape == (n,)
    assert len(ds.feature_names) == d
    assert ds.source == "bundled" and ds.name == name
    if n_classes is None:
        assert ds.task == "regression" and ds.classes is None and ds.y.dtype == np.float64
    else:
        assert ds.task == "classification" and ds.y.dtype == np.int64
        assert len(ds.classes) == n_classes
        assert set(np.unique(ds.y)) == set(range(n_classes))
    assert DATASETS[name][0] == ds.task


def test_bundled_rejects_target_and_wrong_task():
    with pytest.raises(ValueError, match="column of a table"):
        load_dataset("iris", target="species")
    with pytest.raises(ValueError, match="classification dataset"):
        load_dataset("iris", task="regression")
    with pytest.raises(ValueError, match="task must be one of"):
        load_dataset("iris", task="clustering")


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError) as err:
        load_dataset("imagenet")
    for name in DATASETS:
        assert name in str(err.value)


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(ValueError, match="no such file.*nothere.csv"):
        load_dataset(tmp_path / "nothere.csv")
    (tmp_path / "data.txt").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_dataset(tmp_path / "data.txt")
    with pytest.raises(ValueError, match="not a file"):
        load_dataset(str(tmp_path) + "/")


def test_relative_path_found_in_data_dir(tmp_path):
    write_csv(tmp_path / "t.csv", [["a", "y"], [1, 0], [2, 1]])
    ds = load_dataset("t.csv", data_dir=tmp_path)
    assert ds.name == "t" and ds.X.to_numpy().tolist() == [[1.0], [2.0]]


# ---------------------------------------------------------------- IDX

@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("code, dtype, values", [
    (0x08, np.uint8, [0, 1, 127, 128, 255, 7]),
    (0x09, np.int8, [-128, -1, 0, 1, 127, 5]),
    (0x0B, np.int16, [-32768, -300, 0, 300, 32767, 2]),
    (0x0C, np.int32, [-2**31, -70000, 0, 70000, 2**31 - 1, 3]),
    (0x0D, np.float32, [-1.5, 0.0, 0.25, 3.0e5, -7.0, 1.0]),
    (0x0E, np.float64, [-1.5e300, 0.0, 0.1, np.pi, -7.0, 1.0]),
])
def test_read_idx_round_trip(tmp_path, gz, code, dtype, values):
    path = write_idx(tmp_path / "a.idx", values, (2, 3), code, gz)
    arr = read_idx(path)
    assert arr.shape == (2, 3)
    assert arr.dtype == np.dtype(dtype)  # native byte order, so arithmetic is fast
    np.testing.assert_array_equal(arr, np.array(values, dtype=dtype).reshape(2, 3))
    arr[0, 0] = 1  # writable


def test_read_idx_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"  # no .gz suffix, but gzip inside
    path.write_bytes(gzip.compress(idx_bytes([3, 1, 4], (3,), 0x08)))
    np.testing.assert_array_equal(read_idx(path), [3, 1, 4])


@pytest.mark.parametrize("data, problem", [
    (b"\x00\x00", "truncated"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x05", "bad magic"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x05", "unknown type code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated inside its header"),
    (idx_bytes(range(12), (3, 4), 0x08)[:-1], "truncated"),
    (idx_bytes(range(12), (3, 4), 0x08) + b"\x00\x00", "wrong size"),
    (idx_bytes([1.0, 2.0], (2,), 0x0E)[:-3], "truncated"),
])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_rejects_bad_files(tmp_path, data, problem, gz):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(ValueError, match=problem) as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_rejects_corrupt_gzip_and_missing_file(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(range(100), (100,), 0x08))[:-10])
    with pytest.raises(ValueError, match="not a valid gzip") as err:
        read_idx(path)
    assert str(path) in str(err.value)
    with pytest.raises(ValueError, match="cannot read IDX file"):
        read_idx(tmp_path / "absent")


def test_mnist_from_data_dir_gzip_and_raw(tmp_path):
    written = make_idx_set(tmp_path, n_train=5, n_test=3, rows=4, cols=3)
    ds = load_dataset("mnist", data_dir=tmp_path, download=False)
    images = np.concatenate([written["train"][0], written["t10k"][0]]).reshape(8, 12)
    labels = np.concatenate([written["train"][1], written["t10k"][1]])
    assert ds.X.shape == (8, 12) and ds.X.dtype == np.float64
    np.testing.assert_allclose(ds.X, images / 255.0, rtol=0, atol=1e-15)
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0
    np.testing.assert_array_equal(ds.y, labels)
    assert ds.y.dtype == np.int64
    assert ds.classes == list(range(10)) and ds.task == "classification"
    assert len(ds.feature_names) == 12


def test_fashion_mnist_from_subfolder_with_class_names(tmp_path):
    make_idx_set(tmp_path / "fashion_mnist", gz_train=False, gz_test=True)
    ds = load_dataset("Fashion-MNIST", data_dir=tmp_path, download=False)
    assert ds.name == "fashion_mnist"
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.X.shape == (8, 12)


def test_mnist_missing_files_without_download_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # an empty cache folder
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with pytest.raises(ValueError) as err:
        load_dataset("mnist", data_dir=data_dir, download=False)
    msg = str(err.value)
    for fname in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert fname in msg
    assert str(data_dir) in msg and "downloads are disabled" in msg
    assert str(tmp_path / "home" / ".cache" / "gdlab" / "mnist") in msg


def test_mnist_one_file_missing_is_named(tmp_path):
    make_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ValueError) as err:
        load_idx = idxmod.load_idx_dataset
        load_idx("mnist", tmp_path, download=False, cache_dir=tmp_path / "cache")
    assert "t10k-labels-idx1-ubyte.gz" in str(err.value)
    assert "train-images" not in str(err.value)


def test_mnist_mismatched_counts_rejected(tmp_path):
    make_idx_set(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", [1, 2], (2,), 0x08, gz=True)
    with pytest.raises(ValueError, match="5 images .* but 2 labels"):
        idxmod.load_idx_dataset("mnist", tmp_path, download=False, cache_dir=tmp_path / "c")


def test_download_verifies_checksum_and_replaces_atomically(tmp_path, monkeypatch):
    """Mirrors are file:// folders: the download path runs with no network."""
    good, bad = tmp_path / "good", tmp_path / "bad"
    make_idx_set(good, gz_train=True, gz_test=True, seed=1)
    make_idx_set(bad, gz_train=True, gz_test=True, seed=2)  # same names, other bytes
    files = {}
    for key, fname in (("train_images", "train-images-idx3-ubyte.gz"),
                       ("train_labels", "train-labels-idx1-ubyte.gz"),
                       ("test_images", "t10k-images-idx3-ubyte.gz"),
                       ("test_labels", "t10k-labels-idx1-ubyte.gz")):
        files[key] = (fname, hashlib.md5((good / fname).read_bytes()).hexdigest())
    spec = dict(idxmod.IDX_DATASETS["mnist"], files=files,
                mirrors=(bad.as_uri() + "/", good.as_uri() + "/"))
    monkeypatch.setitem(idxmod.IDX_DATASETS, "mnist", spec)
    data_dir = tmp_path / "data"
    ds = load_dataset("mnist", data_dir=data_dir)
    expected = load_dataset("mnist", data_dir=good, download=False)
    np.testing.assert_array_equal(ds.X, expected.X)
    np.testing.assert_array_equal(ds.y, expected.y)
    assert sorted(p.name for p in (data_dir / "mnist").iterdir()) == sorted(
        f for f, _ in files.values())  # no partial files left behind

    spec_bad = dict(spec, mirrors=(bad.as_uri() + "/",))
    monkeypatch.setitem(idxmod.IDX_DATASETS, "mnist", spec_bad)
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_dataset("mnist", data_dir=tmp_path / "other")
    assert list((tmp_path / "other" / "mnist").iterdir()) == []


# ---------------------------------------------------------------- CSV

def test_csv_string_labels_sorted_like_unique(tmp_path):
    path = write_csv(tmp_path / "pets.csv", [
        ["weight", "height", "kind"], [4, 30, "dog"], [3, 25, "cat"], [0.1, 5, "bird"],
        [5, 35, "dog"]])
    ds = load_dataset(path)
    assert ds.task == "classification"
    assert ds.classes == ["bird", "cat", "dog"]
    assert ds.y.tolist() == [2, 1, 0, 2]
    assert ds.feature_names == ["weight", "height"]
    np.testing.assert_array_equal(ds.X.to_numpy(), [[4, 30], [3, 25], [0.1, 5], [5, 35]])
    assert ds.name == "pets" and ds.source == str(path)


@pytest.mark.parametrize("cells", [["0", "1", "1", "0"], ["0.0", "1.0", "1.0", "0.0"]])
def test_csv_numeric_labels_are_classes(tmp_path, cells):
    path = write_csv(tmp_path / "b.csv", [["x", "y"]] + [[i, c] for i, c in enumerate(cells)])
    ds = load_dataset(path)
    assert ds.task == "classification" and ds.classes == [0, 1]
    assert ds.y.tolist() == [0, 1, 1, 0] and ds.y.dtype == np.int64


def test_csv_fractional_target_is_regression_and_target_by_name(tmp_path):
    path = write_csv(tmp_path / "r.csv", [["price", "a", "b"], [1.5, 1, 2], [2.25, 3, 4]])
    ds = load_dataset(path, target="price")
    assert ds.task == "regression" and ds.classes is None
    assert ds.y.tolist() == [1.5, 2.25] and ds.y.dtype == np.float64
    assert ds.feature_names == ["a", "b"]
    assert ds.X.to_numpy().tolist() == [[1, 2], [3, 4]]


def test_csv_task_override_and_single_class_allowed(tmp_path):
    path = write_csv(tmp_path / "c.csv", [["x", "y"], [1, 3], [2, 3], [3, 3]])
    ds = load_dataset(path)
    assert ds.task == "classification" and ds.classes == [3]  # the CLI rejects it, not us
    ds = load_dataset(path, task="regression")
    assert ds.task == "regression" and ds.y.tolist() == [3.0, 3.0, 3.0]
    s = write_csv(tmp_path / "s.csv", [["x", "y"], [1, "a"]])
    with pytest.raises(ValueError, match="regression needs a numeric target"):
        load_dataset(s, task="regression")


def test_csv_many_whole_values_are_regression(tmp_path):
    n = MAX_CLASSES_FROM_WHOLE_NUMBERS + 1
    path = write_csv(tmp_path / "m.csv", [["x", "y"]] + [[i, f"{i * 3}.0"] for i in range(n)])
    assert load_dataset(path).task == "regression"


def test_csv_missing_target_names_available_columns(tmp_path):
    path = write_csv(tmp_path / "t.csv", [["a", "b"], [1, 2]])
    with pytest.raises(ValueError, match='"label" is not a column.*its columns: "a", "b"'):
        load_dataset(path, target="label")


def test_csv_text_and_boolean_feature_columns_are_categories(tmp_path):
    path = write_csv(tmp_path / "t.csv", [["a", "colour", "size", "flag", "y"],
                                          [1, "red", "big", "True", 0],
                                          [2, " blue ", "3", "False", 1]])
    ds = load_dataset(path)
    assert ds.kinds == {"a": "number", "colour": "text", "size": "text", "flag": "boolean"}
    assert ds.X["colour"].tolist() == ["red", "blue"]  # stripped
    assert ds.X["size"].tolist() == ["big", "3"] and ds.X["flag"].tolist() == ["True", "False"]
    assert ds.X["a"].dtype == np.float64


@pytest.mark.parametrize("cell", ["nan", "NaN", "", "NA", "null", "?"])
def test_csv_missing_cells_are_kept_for_imputation_or_named(tmp_path, cell):
    path = write_csv(tmp_path / "t.csv", [["a", "x", "y"], [1, 2, 0], [3, cell, 1], [4, 5, 0]])
    ds = load_dataset(path)
    assert ds.missing == {"x": 1} and np.isnan(ds.X["x"][1]) and len(ds.y) == 3
    assert load_dataset(path, missing="drop").X["x"].tolist() == [2.0, 5.0]
    with pytest.raises(ValueError, match='missing value in column "x" .*\\(line 3\\)'):
        load_dataset(path, missing="error")


@pytest.mark.parametrize("cell", ["inf", "-Infinity"])
def test_csv_infinite_cells_named(tmp_path, cell):
    path = write_csv(tmp_path / "t.csv", [["a", "x", "y"], [1, 2, 0], [3, cell, 1]])
    with pytest.raises(ValueError, match='inf in column "x" of .*t.csv.* \\(line 3\\)'):
        load_dataset(path)


@pytest.mark.parametrize("cell", ["", "nan"])
def test_csv_rows_without_target_are_dropped_or_named(tmp_path, cell):
    path = write_csv(tmp_path / "t.csv", [["a", "y"], [1, "cat"], [3, cell], [4, "dog"]])
    ds = load_dataset(path)
    assert ds.y.tolist() == [0, 1] and ds.X["a"].tolist() == [1.0, 4.0]
    assert "dropped 1 row" in ds.notes[0] and '"y"' in ds.notes[0]
    with pytest.raises(ValueError, match='missing value in column "y"'):
        load_dataset(path, missing="error")


@pytest.mark.parametrize("text, problem", [
    ("", "is empty"),
    ("\n\n", "is empty"),
    ("a,b,y\n", "no data rows"),
    ("a,b,y\n1,2\n", "line 2: 2 cells"),
    ("y\n1\n2\n", "at least one column besides the target"),
    ("a,a,y\n1,2,3\n", 'duplicated column name.*"a"'),
    ("a,,y\n1,2,3\n", "column 2 has no name"),
])
def test_csv_bad_structure(tmp_path, text, problem):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=problem):
        load_dataset(path)


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,y\n\xff\xfe,1\n")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_dataset(path)


# A CSV fuzz: whatever the cells, the loader gives a valid Dataset or a ValueError/TypeError.
_cells = st.one_of(
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e400", "abc", "True", " 3 ", "0x1",
                     "1,5", '"', "\n", "1_0", "--1"]),
    st.integers(-5, 5).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=5),
)


_numbers = st.one_of(st.integers(-5, 5).map(str),
                    st.floats(-1e6, 1e6, allow_nan=False).map(repr))


@st.composite
def _csv_tables(draw):
    """A well-formed numeric table, then 0 to 3 random damages, so both outcomes occur; also
    whether a damage was done."""
    n_cols = draw(st.integers(1, 4) | st.integers(2, 4))
    header = draw(st.lists(st.sampled_from(["a", "b", "c", "x1", "x2", "y"]), min_size=n_cols,
                           max_size=n_cols, unique=True))
    label = st.sampled_from(["cat", "dog", "True", "False"]) | _numbers
    rows = [draw(st.lists(_numbers, min_size=n_cols - 1, max_size=n_cols - 1)) + [draw(label)]
            for _ in range(draw(st.integers(0, 6) | st.integers(1, 6)))]
    target, damaged = None, False
    for _ in range(draw(st.integers(0, 3))):
        damage = draw(st.sampled_from(["cell", "cell", "header", "row", "target"]))
        if damage == "cell" and rows:
            row = draw(st.sampled_from(rows))
            if row:
                row[draw(st.integers(0, len(row) - 1))] = draw(_cells)
                damaged = True
        elif damage == "header":
            header[draw(st.integers(0, n_cols - 1))] = draw(_cells)
            damaged = True
        elif damage == "row" and rows:
            row = draw(st.sampled_from(rows))
            row[:] = draw(st.lists(_cells, max_size=5))
            damaged = True
        elif damage == "target":
            target = draw(st.sampled_from(header) | _cells)
            damaged = True
    return header, rows, target, damaged


def _same_number(a, b) -> bool:
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


@settings(deadline=None, max_examples=50)
@given(table=_csv_tables())
def test_csv_fuzz_only_dataset_or_clear_error(table):
    header, rows, target, damaged = table
    # undamaged, with a feature column and a data row, the table is valid: it must be read
    valid = not damaged and len(header) >= 2 and len(rows) >= 1
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(Path(tmp) / "f.csv", [header] + rows)
        try:
            ds = load_dataset(path, target=target)
        except (ValueError, TypeError) as exc:
            assert not valid, f"a valid table was refused: {exc}"
            assert str(exc)
            return
    if valid:  # the last column is the target; the others, as numbers, are the features
        np.testing.assert_array_equal(np.asarray(ds.X, dtype=np.float64),
                                      [[float(c) for c in row[:-1]] for row in rows])
        assert ds.feature_names == header[:-1]
        labels = [row[-1] for row in rows]
        if ds.task == "classification":  # each row's class is its label, as typed
            got = np.asarray(ds.classes, dtype=object)[ds.y]
            assert all(str(g) == w or _same_number(g, w) for g, w in zip(got, labels))
        else:
            np.testing.assert_array_equal(ds.y, [float(v) for v in labels])
    assert ds.X.ndim == 2 and ds.X.shape[0] >= 1
    for name, kind in ds.kinds.items():  # numbers are finite or missing; categories strings
        column = ds.X[name]
        if kind == "number":
            assert column.dtype == np.float64 and not np.isinf(column).any()
        else:
            assert all(isinstance(v, str) for v in column.dropna())
    assert ds.y.shape == (ds.X.shape[0],)
    assert len(ds.feature_names) == ds.X.shape[1]
    if ds.task == "classification":
        assert ds.y.dtype == np.int64 and 0 <= ds.y.min() and ds.y.max() < len(ds.classes)
    else:
        assert ds.task == "regression" and np.all(np.isfinite(ds.y))


# ---------------------------------------------------------------- NPZ

def test_npz_good(tmp_path):
    X = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.savez(tmp_path / "a.npz", X=X, y=np.array([2, 0, 2, 5]))
    ds = load_dataset(tmp_path / "a.npz")
    assert ds.task == "classification" and ds.classes == [0, 2, 5]
    assert ds.y.tolist() == [1, 0, 1, 2]
    np.testing.assert_array_equal(ds.X, X)
    assert ds.X.dtype == np.float64 and ds.feature_names == ["x0", "x1", "x2"]

    np.savez(tmp_path / "r.npz", X=X, y=np.array([0.5, 1.0, 2.0, 3.0]),
             feature_names=np.array(["p", "q", "r"]))
    ds = load_dataset(tmp_path / "r.npz")
    assert ds.task == "regression" and ds.feature_names == ["p", "q", "r"]

    np.savez(tmp_path / "s.npz", X=X, y=np.array(["b", "a", "b", "b"]))
    ds = load_dataset(tmp_path / "s.npz")
    assert ds.classes == ["a", "b"] and ds.y.tolist() == [1, 0, 1, 1]


class _Tripwire:
    """Unpickling this creates a file: the test checks that it never happens."""

    def __init__(self, flag):
        self.flag = str(flag)

    def __reduce__(self):
        return (Path.touch, (Path(self.flag),))


def test_npz_object_array_rejected_never_unpickled(tmp_path):
    flag = tmp_path / "unpickled"
    y = np.empty(2, dtype=object)
    y[0], y[1] = _Tripwire(flag), _Tripwire(flag)
    np.savez(tmp_path / "o.npz", X=np.ones((2, 2)), y=y)
    with pytest.raises(ValueError, match="object array"):
        load_dataset(tmp_path / "o.npz")
    assert not flag.exists()


@pytest.mark.parametrize("arrays, problem", [
    ({"X": np.ones((3, 2))}, "lacks array.*y.*holds: X"),
    ({"data": np.ones((3, 2))}, "lacks array.*X, y"),
    ({"X": np.ones(3), "y": np.ones(3)}, "must be 2-D"),
    ({"X": np.ones((3, 2)), "y": np.ones(2)}, "one value per row"),
    ({"X": np.ones((3, 2)), "y": np.ones((3, 1))}, "must be 1-D"),
    ({"X": np.ones((0, 2)), "y": np.ones(0)}, "is empty"),
    ({"X": np.array([["a", "b"]]), "y": np.ones(1)}, "must be numeric"),
    ({"X": np.array([[1.0, np.nan]]), "y": np.ones(1)}, 'NaN in column "x1"'),
    ({"X": np.array([[1.0, np.inf]]), "y": np.ones(1)}, "inf in column"),
    ({"X": np.ones((2, 2)), "y": np.array([1.0, np.nan])}, "NaN or inf in y"),
    ({"X": np.ones((2, 2)), "y": np.ones(2), "feature_names": np.array(["a"])},
     "one name per column"),
])
def test_npz_bad(tmp_path, arrays, problem):
    np.savez(tmp_path / "b.npz", **arrays)
    with pytest.raises(ValueError, match=problem):
        load_dataset(tmp_path / "b.npz")


def test_npz_not_an_archive_and_target_rejected(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="cannot read .* as .npz"):
        load_dataset(tmp_path / "junk.npz")
    np.savez(tmp_path / "g.npz", X=np.ones((2, 2)), y=np.arange(2))
    with pytest.raises(ValueError, match="columns of a table"):
        load_dataset(tmp_path / "g.npz", target="y")


# ---------------------------------------------------------------- infer_task

@pytest.mark.parametrize("y, task", [
    (np.array(["a", "b"]), "classification"),
    (np.array([True, False]), "classification"),
    (np.array([0, 1, 2]), "classification"),
    (np.array([0.0, 1.0, 1.0]), "classification"),
    (np.array([-1.0, 1.0]), "classification"),
    (np.array([0.0, 0.5]), "regression"),
    (np.array([1.0, 2.0, 3.000001]), "regression"),
    (np.arange(MAX_CLASSES_FROM_WHOLE_NUMBERS + 1, dtype=float), "regression"),
    (np.arange(MAX_CLASSES_FROM_WHOLE_NUMBERS, dtype=float), "classification"),
    (np.arange(MAX_CLASSES_FROM_WHOLE_NUMBERS), "classification"),
    (np.arange(1000), "regression"),  # whole numbers, whatever the dtype: a quantity
])
def test_infer_task(y, task):
    assert infer_task(y) == task


def test_infer_task_rejects_bad_targets():
    with pytest.raises(ValueError, match="NaN or inf"):
        infer_task(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="1-D"):
        infer_task(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="empty"):
        infer_task(np.array([]))
    with pytest.raises(TypeError):
        infer_task(np.array([1j, 2j]))


# ---------------------------------------------------------------- split and standardize

def _imbalanced(n=200):
    y = np.repeat([0, 1, 2], [n * 6 // 10, n * 3 // 10, n // 10])
    X = np.arange(len(y), dtype=float).reshape(-1, 1)  # the row id, to check the partition
    return X, y


def test_split_is_stratified_partition():
    X, y = _imbalanced(200)
    s = split(X, y, test_size=0.25, val_size=0.15, task="classification", seed=3)
    assert len(s.X_test) == 50 and len(s.X_val) == 30 and len(s.X_train) == 120
    ids = np.concatenate([s.X_train, s.X_val, s.X_test]).ravel()
    np.testing.assert_array_equal(np.sort(ids), np.arange(200))  # each row exactly once
    np.testing.assert_array_equal(y[s.X_test.ravel().astype(int)], s.y_test)
    for part in (s.y_train, s.y_val, s.y_test):
        proportions = np.bincount(part, minlength=3) / len(part)
        np.testing.assert_allclose(proportions, [0.6, 0.3, 0.1], atol=1.0 / len(part) + 1e-12)


def test_split_reproducible_by_seed():
    X, y = _imbalanced(200)
    a = split(X, y, task="classification", seed=7)
    b = split(X, y, task="classification", seed=7)
    c = split(X, y, task="classification", seed=8)
    np.testing.assert_array_equal(a.X_test, b.X_test)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    assert not np.array_equal(a.X_test, c.X_test)
    g1 = split(X, y, task="classification", seed=np.random.default_rng(5))
    g2 = split(X, y, task="classification", seed=np.random.default_rng(5))
    np.testing.assert_array_equal(g1.X_test, g2.X_test)
    assert a.X_val is None and a.y_val is None


def test_split_regression_and_no_test():
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.linspace(0, 1, 20)
    s = split(X, y, test_size=0.0, val_size=0.2, task="regression", seed=0)
    assert s.X_test is None and len(s.X_val) == 4 and len(s.X_train) == 16


@pytest.mark.parametrize("kwargs, err", [
    ({"test_size": 1.0}, ValueError), ({"test_size": -0.1}, ValueError),
    ({"test_size": 0.6, "val_size": 0.4}, ValueError), ({"val_size": "0.1"}, ValueError),
    ({"seed": 1.5}, TypeError), ({"task": "clustering"}, ValueError),
])
def test_split_rejects_bad_arguments(kwargs, err):
    X, y = _imbalanced(100)
    args = {"task": "classification", "seed": 0, **kwargs}
    with pytest.raises(err):
        split(X, y, **args)


def test_split_too_small_class_is_a_clear_error():
    X, y = np.ones((5, 1)), np.array([0, 0, 0, 0, 1])
    with pytest.raises(ValueError, match="cannot split off the test set"):
        split(X, y, task="classification", seed=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standardize_fits_on_train_only(dtype):
    rng = np.random.default_rng(0)
    X_train = rng.normal(2.0, 3.0, size=(200, 3)).astype(dtype)
    X_train[:, 2] = 5.0  # constant column
    X_test = rng.normal(10.0, 1.0, size=(50, 3)).astype(dtype)
    scaler, tr, none, te = standardize(X_train, None, X_test)
    assert none is None
    assert tr.dtype == dtype and te.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(tr[:, :2].mean(axis=0), 0, atol=tol)
    np.testing.assert_allclose(tr[:, :2].std(axis=0), 1, rtol=tol)
    np.testing.assert_array_equal(tr[:, 2], 0)  # no division by zero
    x64 = X_train.astype(np.float64)
    mu, sd = x64.mean(axis=0), x64.std(axis=0)
    sd[2] = 1.0
    np.testing.assert_allclose(te, (X_test - mu) / sd, rtol=tol, atol=tol)
    assert te[:, 0].mean() > 1.0  # the test part is not re-centred


def test_standardize_requested_dtype_and_bad_dtype():
    X = np.arange(12).reshape(6, 2)
    _, tr = standardize(X)
    assert tr.dtype == np.float64
    _, tr, te = standardize(X, X[:2], dtype=np.float32)
    assert tr.dtype == np.float32 and te.dtype == np.float32
    with pytest.raises(ValueError, match="float32 or float64"):
        standardize(X, dtype=np.int32)
