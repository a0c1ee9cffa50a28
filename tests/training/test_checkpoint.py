"""gdlab.training.checkpoint: round trips, corruption and truncation detected, crash-safe saves."""

import json
import os
import zipfile

import numpy as np
import pytest

from gdlab import CheckpointError
from gdlab.training import checkpoint
from gdlab.training.checkpoint import load_checkpoint, save_checkpoint


def sample_state():
    rng = np.random.default_rng(0)
    return {
        "params": rng.normal(size=50).astype(np.float32),
        "buffers": {"1.running_mean": np.zeros(4), "1.running_var": np.ones(4)},
        "optimizer": {"step": 7, "state": [{"m": rng.normal(size=(3, 2)), "v": np.arange(6)}]},
        "rng": rng.bit_generator.state,  # 128-bit integers
        "history": {"loss": [1.0, 0.5, float("nan")], "lr": [0.1, 0.1, 0.05]},
        "flags": [True, None, "text", 1e-300, np.float64(2.5), np.int64(3)],
        "scalar": np.array(3.0),
    }


def assert_same(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=True)
    elif isinstance(a, dict):
        assert set(a) == set(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b and type(a) is type(b) or (isinstance(a, np.generic) and a.item() == b)


def test_round_trip_is_exact(tmp_path):
    state = sample_state()
    path = save_checkpoint(tmp_path / "a.ckpt", state, config={"hidden": [64], "lr": 0.001})
    loaded, config = load_checkpoint(path)
    assert_same(state, loaded)
    assert config == {"hidden": [64], "lr": 0.001}
    # the shuffling generator resumes where it was
    rng = np.random.default_rng()
    rng.bit_generator.state = loaded["rng"]
    ref = np.random.default_rng(0)
    ref.normal(size=50), ref.normal(size=(3, 2))
    assert np.array_equal(rng.permutation(10), ref.permutation(10))


def test_no_pickle_and_documented_layout(tmp_path):
    path = save_checkpoint(tmp_path / "a.ckpt", sample_state())
    with np.load(path, allow_pickle=False) as npz:  # an ordinary npz, readable without pickle
        meta = json.loads(npz["__meta__"].tobytes())
    assert meta["format"] == checkpoint.FORMAT and meta["version"] == checkpoint.VERSION
    with zipfile.ZipFile(path) as z:
        assert z.comment.startswith(b"gdlab-sha256:")
        for name in z.namelist():
            assert b"pickle" not in z.read(name)[:128]


def test_unsaveable_objects_are_rejected(tmp_path):
    with pytest.raises(TypeError, match=r"state\['f'\]: cannot save a function"):
        save_checkpoint(tmp_path / "x", {"f": lambda: 0})
    with pytest.raises(TypeError, match="keys must be strings"):
        save_checkpoint(tmp_path / "x", {1: 2})
    with pytest.raises(TypeError, match="dtype object"):
        save_checkpoint(tmp_path / "x", {"a": np.array([None])})
    assert not os.path.exists(tmp_path / "x")


def test_every_flipped_byte_is_detected(tmp_path):
    path = save_checkpoint(tmp_path / "a.ckpt", sample_state())
    raw = path.read_bytes()
    # bytes all over the file, and every byte of its end (archive directory and checksum)
    positions = sorted(set(range(0, len(raw), 13)) | set(range(len(raw) - 200, len(raw))))
    bad = tmp_path / "bad.ckpt"
    for pos in positions:
        flipped = bytearray(raw)
        flipped[pos] ^= 0x10
        bad.write_bytes(bytes(flipped))
        try:
            load_checkpoint(bad)
        except CheckpointError as exc:
            assert "bad.ckpt" in str(exc)
        else:  # pragma: no cover - the failure this test exists to catch
            pytest.fail(f"a flipped bit at byte {pos} of {len(raw)} went unnoticed")


def test_checksum_catches_what_the_zip_does_not_check(tmp_path):
    # change an array and rewrite a valid zip (fresh CRCs) that keeps the old checksum
    path = save_checkpoint(tmp_path / "a.ckpt", sample_state())
    with zipfile.ZipFile(path) as z:
        comment = z.comment
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["a0"] = arrays["a0"] + np.float32(1e-3)
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **arrays)
    with zipfile.ZipFile(tampered, "a") as z:
        z.comment = comment
    with zipfile.ZipFile(tampered) as z:
        assert z.testzip() is None  # the zip itself is sound
    with pytest.raises(CheckpointError, match=r"tampered.npz is corrupt: its SHA-256 checksum"):
        load_checkpoint(tampered)


@pytest.mark.parametrize("keep", [0, 10, 100, 0.5, 0.99])
def test_truncated_file_is_detected(tmp_path, keep):
    path = save_checkpoint(tmp_path / "a.ckpt", sample_state())
    raw = path.read_bytes()
    n = int(keep * len(raw)) if isinstance(keep, float) else keep
    path.write_bytes(raw[:n])
    with pytest.raises(CheckpointError, match=r"a.ckpt is truncated or corrupt"):
        load_checkpoint(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match=r"nothing.ckpt does not exist"):
        load_checkpoint(tmp_path / "nothing.ckpt")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(CheckpointError, match=r"plain.npz is not a gdlab checkpoint"):
        load_checkpoint(tmp_path / "plain.npz")


def test_version_mismatch_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "VERSION", 99)
    path = save_checkpoint(tmp_path / "future.ckpt", {"a": 1})
    monkeypatch.undo()
    with pytest.raises(CheckpointError, match=r"future.ckpt has format version 99, but this "
                                              r"gdlab reads version 1"):
        load_checkpoint(path)


def _only_checkpoint_files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_crash_in_the_writer_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "run.ckpt", {"epoch": 1, "w": np.ones(1000)})
    before = path.read_bytes()

    def crashing_writer(fileobj, data):
        fileobj.write(data[:len(data) // 2])  # half the file is written, then it fails
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "_write", crashing_writer)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "w": np.zeros(1000)})
    assert path.read_bytes() == before
    assert load_checkpoint(path)[0]["epoch"] == 1
    assert _only_checkpoint_files(tmp_path) == ["run.ckpt"]  # no temporary file left behind


def test_crash_at_the_rename_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "run.ckpt", {"epoch": 1})

    def failing_replace(src, dst):
        raise KeyboardInterrupt  # e.g. killed between writing and renaming

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)[0]["epoch"] == 1
    assert _only_checkpoint_files(tmp_path) == ["run.ckpt"]
    save_checkpoint(path, {"epoch": 3})
    assert load_checkpoint(path)[0]["epoch"] == 3


def test_trainer_round_trip_through_a_file(tmp_path):
    from gdlab.nn.sequential import mlp
    from gdlab.optim import Adam
    from gdlab.training import Trainer

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)

    def make():
        net = mlp(3, [6], 2, dropout=0.3, seed=1)
        return Trainer(net, "cross_entropy", Adam([net.flat_parameters], lr=0.01), epochs=2,
                       batch_size=8, seed=4)

    a = make()
    a.fit(X, y)
    a.save(tmp_path / "t.ckpt", config={"note": "two epochs"})
    b = make()
    assert b.load(tmp_path / "t.ckpt") == {"note": "two epochs"}
    assert np.array_equal(a.net.flat_parameters, b.net.flat_parameters)
    a.fit(X, y)
    b.fit(X, y)
    assert np.array_equal(a.net.flat_parameters, b.net.flat_parameters)
    assert a.history["loss"] == b.history["loss"]
