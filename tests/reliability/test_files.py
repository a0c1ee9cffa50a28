"""Reliability against hostile or mismatched files, and where a run writes.

* Loading a checkpoint or a data file never executes code: gdlab's formats hold no pickle.
  The hostile files here carry a pickle payload that creates a file when unpickled (shown to
  be live with NumPy's own ``allow_pickle=True``) and a valid gdlab checksum, which anyone can
  compute: it detects accidents, it is not a signature.
* A checkpoint whose arrays do not fit the network, optimizer or configuration is rejected
  with a ValueError, and a failed load leaves the trainer as it was.
* A run writes only into its ``--out`` folder, never deletes files it did not write, and
  ``--out`` refuses a folder holding a different run unless ``--force`` is given.
"""

import copy
import hashlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gdlab.data import load_dataset
from gdlab.errors import CheckpointError, DivergenceError
from gdlab.lab.runs import make_config, run_training
from gdlab.nn.sequential import mlp
from gdlab.optim import make_optimizer
from gdlab.schedules import make_schedule
from gdlab.training import Trainer
from gdlab.training.checkpoint import load_checkpoint, save_checkpoint


class Payload:
    """Unpickling this object calls ``open(marker, "w")``: it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def seal(npz: bytes) -> bytes:
    """The documented gdlab checksum: zip comment ``gdlab-sha256:<SHA-256 of the rest>``."""
    assert npz[-22:-18] == b"PK\x05\x06" and npz[-2:] == b"\0\0"
    body = npz[:-2]
    tag = b"gdlab-sha256:" + hashlib.sha256(body).hexdigest().encode()
    return body + len(tag).to_bytes(2, "little") + tag


def hostile_checkpoint(path, marker, where="a0"):
    meta = {"format": "gdlab-checkpoint", "version": 1, "config": None,
            "state": {"x": {"__array__": "a0"}}}
    arrays = {"a0": np.arange(3.0),
              "__meta__": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    arrays[where] = np.array([Payload(marker)], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(seal(buf.getvalue()))
    return path


def test_the_payload_is_live_when_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    path = hostile_checkpoint(tmp_path / "evil.npz", marker)
    with np.load(path, allow_pickle=True) as npz:
        npz["a0"]
    assert marker.exists()


@pytest.mark.parametrize("where", ["a0", "__meta__"])
def test_a_checkpoint_with_a_pickle_payload_is_rejected_without_running_it(tmp_path, where):
    marker = tmp_path / "pwned"
    path = hostile_checkpoint(tmp_path / "evil.npz", marker, where)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    net = mlp(4, [3], 2, seed=0)
    t = Trainer(net, "cross_entropy", "sgd")
    with pytest.raises(CheckpointError):
        t.load(path)
    assert not marker.exists()


def test_a_raw_pickle_named_like_a_checkpoint_is_rejected(tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(CheckpointError, match="not a gdlab checkpoint|truncated or corrupt"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_data_file_with_a_pickle_payload_is_rejected_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data.npz"
    np.savez(path, X=np.array([Payload(marker)] * 4, dtype=object), y=np.arange(4))
    with pytest.raises((ValueError, TypeError)) as info:
        load_dataset(str(path))
    assert "pickle" in str(info.value)
    assert not marker.exists()


@pytest.mark.slow
def test_cli_never_runs_a_payload_in_a_checkpoint_or_a_data_file(tmp_path):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(make_config(dataset="iris")))
    hostile_checkpoint(run / "checkpoint.npz", marker)
    np.savez(tmp_path / "data.npz", X=np.array([Payload(marker)] * 4, dtype=object),
             y=np.arange(4))
    for args in (["--resume", run], ["--dataset", tmp_path / "data.npz", "--out", tmp_path / "o"]):
        proc = subprocess.run([sys.executable, "-m", "gdlab", "train", *map(str, args)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr
        lines = [x for x in proc.stderr.splitlines() if "error:" in x]
        assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert not marker.exists()


# ---- states that do not fit -------------------------------------------------------------------

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 4))
Y = np.arange(40) % 3


def make_trainer(opt="adam"):
    net = mlp(4, [5], 3, "tanh", batchnorm=True, dropout=0.1, dtype="float64", seed=1)
    o = make_optimizer(opt, [net.flat_parameters], lr=0.01)
    return Trainer(net, "cross_entropy", o, batch_size=10, epochs=2, early_stopping=True,
                   schedule=make_schedule("cosine", o, horizon=5), seed=3)


def leaves(obj, path=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from leaves(value, path + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from leaves(value, path + (i,))
    else:
        yield path, obj


def replaced(state, path, value):
    state = copy.deepcopy(state)
    node = state
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return state


def snapshot(t):
    return copy.deepcopy(t.state_dict())


def assert_same_state(a, b):
    la, lb = dict(leaves(a)), dict(leaves(b))
    assert la.keys() == lb.keys()
    for key in la:
        if isinstance(la[key], np.ndarray):
            np.testing.assert_array_equal(la[key], lb[key])
        else:
            assert la[key] == lb[key] or (la[key] != la[key] and lb[key] != lb[key]), key


@pytest.fixture(scope="module", params=["adam", "momentum", "adadelta"])
def trained_state(request):
    t = make_trainer(request.param)
    t.fit(X, Y)
    return request.param, t.state_dict()


def test_every_array_of_another_shape_is_rejected_and_nothing_changes(trained_state):
    opt, state = trained_state
    arrays = [(p, v) for p, v in leaves(state) if isinstance(v, np.ndarray) and v.ndim >= 1]
    assert len(arrays) >= 7  # params, buffers, optimizer state, best weights
    for path, value in arrays:
        for bad in (value[:-1], value[:1].copy(), np.stack([value, value])):
            t = make_trainer(opt)
            before = snapshot(t)
            with pytest.raises(ValueError):
                t.load_state_dict(replaced(state, path, bad))
            assert_same_state(t.state_dict(), before)


def test_every_missing_entry_is_a_value_error(trained_state):
    opt, state = trained_state
    for key in state:
        damaged = dict(state)
        del damaged[key]
        with pytest.raises(ValueError, match=repr(key) if key != "format" else "format"):
            make_trainer(opt).load_state_dict(damaged)


BAD_VALUES = st.sampled_from(["x", None, -3, 2**70, 1e300, float("nan"), [1, 2], {"a": 1},
                              True, np.zeros(2), np.zeros((2, 2), dtype=np.int8)])


@given(data=st.data())
def test_any_damaged_entry_is_a_clear_error_or_a_working_trainer(trained_state, data):
    # a checkpoint is checksummed, but anyone can write one: its contents are not trusted
    opt, state = trained_state
    paths = [p for p, _ in leaves(state)]
    path = data.draw(st.sampled_from(paths))
    bad = data.draw(BAD_VALUES)
    t = make_trainer(opt)
    try:
        t.load_state_dict(replaced(state, path, bad))
    except (ValueError, TypeError) as exc:
        assert str(exc)
        return
    try:
        t.fit(X, Y, epochs=1)
    except (ValueError, TypeError, DivergenceError) as exc:
        assert str(exc)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r4"
    config = make_config(dataset="iris", layers=[4], epochs=1, batch_size=16, tol=None,
                         checkpoint_every=1)
    run_training(config, out, log=None)
    other = out.parent / "r5"
    run_training(dict(config, layers=[5]), other, log=None)
    return out, other


def test_resume_with_a_checkpoint_of_another_network_is_rejected(small_run, tmp_path):
    r4, r5 = small_run
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_bytes((r4 / "config.json").read_bytes())
    (run / "checkpoint.npz").write_bytes((r5 / "checkpoint.npz").read_bytes())
    with pytest.raises(ValueError) as info:
        run_training({"epochs": 3}, run, resume=True, log=None)
    message = str(info.value)
    assert str(run / "checkpoint.npz") in message and "params" in message
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.npz", "config.json"]


def test_resume_with_arrays_of_other_shapes_is_rejected(small_run, tmp_path):
    r4, _ = small_run
    state, meta = load_checkpoint(r4 / "checkpoint.npz")
    opt = state["optimizer"]
    first = next(p for p, v in leaves(opt) if isinstance(v, np.ndarray) and v.size > 1)
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_bytes((r4 / "config.json").read_bytes())
    bad = replaced(state, ("optimizer",) + first, np.zeros(3, dtype=np.float32))
    save_checkpoint(run / "checkpoint.npz", bad, config=meta)
    with pytest.raises(ValueError) as info:
        run_training({"epochs": 3}, run, resume=True, log=None)
    assert str(run / "checkpoint.npz") in str(info.value)


DAMAGED_CONFIGS = {
    "not json": b"{\"epochs\": 3,",
    "not utf-8": b"\xff\xfe{}",
    "a list": b"[1, 2]",
    "no epochs": json.dumps({"dataset": "iris"}).encode(),
    "epochs a string": json.dumps({"epochs": "ten"}).encode(),
    "unknown layers": None,  # filled from the real config below
    "bad horizon": None,
}


@pytest.mark.parametrize("damage", DAMAGED_CONFIGS)
def test_resume_with_a_damaged_config_is_a_clear_error(small_run, tmp_path, damage):
    r4, _ = small_run
    run = tmp_path / "r"
    run.mkdir()
    good = json.loads((r4 / "config.json").read_text())
    data = DAMAGED_CONFIGS[damage]
    if damage == "unknown layers":
        data = json.dumps(dict(good, layers="four")).encode()
    elif damage == "bad horizon":
        data = json.dumps(dict(good, schedule_horizon=[1])).encode()
    (run / "config.json").write_bytes(data)
    (run / "checkpoint.npz").write_bytes((r4 / "checkpoint.npz").read_bytes())
    with pytest.raises(ValueError) as info:
        run_training({"epochs": None}, run, resume=True, log=None)
    assert str(run / "config.json") in str(info.value)
    assert (run / "config.json").read_bytes() == data  # left as it was


# ---- where a run writes -------------------------------------------------------------------------

def tree(root):
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def gdlab(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "gdlab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=env)


def csv_file(path):
    rows = ["a,b,label"] + [f"{i % 7},{(i * 3) % 5},{i % 2}" for i in range(60)]
    path.write_text("\n".join(rows) + "\n")


@pytest.mark.slow
def test_a_run_writes_only_into_its_out_folder(tmp_path):
    cwd = tmp_path / "work"
    cwd.mkdir()
    csv_file(cwd / "data.csv")
    (cwd / "notes.txt").write_text("mine")
    cache = tmp_path / "cache"  # matplotlib's font cache lives outside the tree we watch
    env = {**os.environ, "MPLCONFIGDIR": str(cache), "HOME": str(cache)}
    before = tree(cwd)
    proc = gdlab("train", "--dataset", "data.csv", "--epochs", "2", "--layers", "4", "--quiet",
                 "--out", tmp_path / "out" / "deep", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    assert tree(cwd) == before  # the data file and the working folder are untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out", "work"]
    written = sorted(p.name for p in (tmp_path / "out" / "deep").iterdir())
    # a classification run: docs/run-format.md's report and its confusion matrix, too
    assert written == ["accuracy.png", "checkpoint.npz", "config.json", "confusion_matrix.png",
                       "history.csv", "loss.png", "metrics.json", "model.npz", "report.html",
                       "report.md"]


@pytest.mark.slow
def test_out_never_deletes_files_it_did_not_write(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    mine = {"notes.txt": b"mine", "checkpoint-backup.npz": b"my old checkpoint",
            "checkpoints": None}
    for name, data in mine.items():
        if data is None:
            (out / name).mkdir()
        else:
            (out / name).write_bytes(data)
    proc = gdlab("train", "--dataset", "iris", "--epochs", "1", "--layers", "4", "--quiet",
                 "--out", out, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name, data in mine.items():
        assert (out / name).exists(), name
        if data is not None:
            assert (out / name).read_bytes() == data
    # a different run in that folder is refused without --force, and its files stay
    proc = gdlab("train", "--dataset", "iris", "--epochs", "1", "--layers", "5", "--quiet",
                 "--out", out, cwd=tmp_path)
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert json.loads((out / "config.json").read_text())["layers"] == [4]
    # with --force the new run replaces the old one's files, not the user's
    proc = gdlab("train", "--dataset", "iris", "--epochs", "1", "--layers", "5", "--quiet",
                 "--out", out, "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert load_checkpoint(out / "checkpoint.npz")[0]["net"]["params"].size == 4 * 5 + 5 + 5 * 3 + 3
    for name in mine:
        assert (out / name).exists(), name


@pytest.mark.slow
def test_out_refuses_a_folder_whose_files_a_run_would_overwrite(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "history.csv").write_text("my own history")
    proc = gdlab("train", "--dataset", "iris", "--epochs", "1", "--layers", "4", "--quiet",
                 "--out", out, cwd=tmp_path)
    assert proc.returncode == 2 and "history.csv" in proc.stderr and "--force" in proc.stderr
    assert (out / "history.csv").read_text() == "my own history"
    assert sorted(p.name for p in out.iterdir()) == ["history.csv"]


@pytest.mark.slow
def test_out_that_is_a_file_is_refused_and_left_alone(tmp_path):
    target = tmp_path / "results"
    target.write_text("precious")
    proc = gdlab("train", "--dataset", "iris", "--epochs", "1", "--out", target, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if "error:" in x]
    assert len(lines) == 1 and str(target) in lines[0], proc.stderr
    assert target.read_text() == "precious"
