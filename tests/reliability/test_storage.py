"""Reliability under storage faults.

* A checkpoint write that fails part-way (a full disk, a file-size limit, a folder that
  refuses new files, a writer that raises) leaves the previous checkpoint intact and loadable,
  leaves no partial file behind, and reports an error that names the checkpoint; resuming
  from the checkpoint that survived gives the uninterrupted result.
* A truncated, bit-flipped, foreign or version-mismatched checkpoint is rejected on resume
  with a message naming the file and the problem (exit code 2 in the CLI), never loaded.
"""

import errno
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gdlab.training.checkpoint as C
from gdlab.errors import CheckpointError
from gdlab.lab.runs import make_config, run_training
from gdlab.nn.sequential import mlp
from gdlab.optim import Adam
from gdlab.training import Trainer
from gdlab.training.checkpoint import load_checkpoint, save_checkpoint


def blobs(seed=0, n=48):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return rng.normal(size=(n, 4)) + 2.0 * np.eye(3, 4)[y], y


def make_trainer(path=None, epochs=6):
    net = mlp(4, [5], 3, "tanh", dtype="float64", seed=1)
    return Trainer(net, "cross_entropy", Adam([net.flat_parameters], lr=0.01), batch_size=10,
                   epochs=epochs, tol=None, seed=3, checkpoint_path=path)


def failing_write(at, exc):
    """A ``_write`` whose ``at``-th call writes half the bytes, then raises ``exc``."""
    calls = [0]

    def write(f, data):
        calls[0] += 1
        if calls[0] == at:
            f.write(data[: len(data) // 2])
            f.flush()
            raise exc
        f.write(data)

    return write


FAULTS = {
    "disk full": OSError(errno.ENOSPC, "No space left on device"),
    "file too large": OSError(errno.EFBIG, "File too large"),
    "I/O error": OSError(errno.EIO, "Input/output error"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failed_write_keeps_the_previous_checkpoint_and_names_the_file(
        tmp_path, monkeypatch, fault):
    X, y = blobs()
    ckpt = tmp_path / "ckpt.npz"
    t = make_trainer(ckpt)
    monkeypatch.setattr(C, "_write", failing_write(3, FAULTS[fault]))
    with pytest.raises(OSError) as info:
        t.fit(X, y)
    err = info.value
    assert err.errno == FAULTS[fault].errno
    assert str(ckpt) in str(err) and FAULTS[fault].strerror in str(err)
    assert "previous checkpoint" in str(err) and "unchanged" in str(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]  # no partial file left
    state, _ = load_checkpoint(ckpt)
    assert state["epoch"] == 2
    # resuming from the surviving checkpoint gives the uninterrupted result
    monkeypatch.undo()
    resumed = make_trainer()
    resumed.load(ckpt)
    resumed.fit(X, y, epochs=4)
    whole = make_trainer()
    whole.fit(X, y)
    np.testing.assert_array_equal(resumed.net.flat_parameters, whole.net.flat_parameters)
    assert resumed.history.as_dict()["loss"] == whole.history.as_dict()["loss"]


def test_a_write_interrupted_by_an_exception_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    ckpt = tmp_path / "c.npz"
    save_checkpoint(ckpt, {"x": np.arange(5.0)})
    monkeypatch.setattr(C, "_write", failing_write(1, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(ckpt, {"x": np.zeros(5)})
    np.testing.assert_array_equal(load_checkpoint(ckpt)[0]["x"], np.arange(5.0))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_a_folder_that_refuses_new_files_is_reported(tmp_path, monkeypatch):
    ckpt = tmp_path / "c.npz"
    save_checkpoint(ckpt, {"x": np.arange(3.0)})

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".c.npz.x.tmp"))

    monkeypatch.setattr(C.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as info:
        save_checkpoint(ckpt, {"x": np.zeros(3)})
    assert str(ckpt) in str(info.value) and "Permission denied" in str(info.value)
    np.testing.assert_array_equal(load_checkpoint(ckpt)[0]["x"], np.arange(3.0))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="a read-only folder does not stop root")
def test_a_read_only_folder_keeps_the_previous_checkpoint(tmp_path):
    ckpt = tmp_path / "ro" / "c.npz"
    ckpt.parent.mkdir()
    save_checkpoint(ckpt, {"x": np.arange(3.0)})
    ckpt.parent.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match="cannot write checkpoint"):
            save_checkpoint(ckpt, {"x": np.zeros(3)})
    finally:
        ckpt.parent.chmod(0o755)
    np.testing.assert_array_equal(load_checkpoint(ckpt)[0]["x"], np.arange(3.0))


RO_DRIVER = textwrap.dedent("""
    import os, sys
    import numpy as np
    from gdlab.training.checkpoint import load_checkpoint, save_checkpoint
    # everything a save needs is imported first (the interpreter may live in root's home)
    load_checkpoint(save_checkpoint(sys.argv[2], {"x": np.zeros(3)}))
    os.setgid(65534)
    os.setuid(65534)  # nobody: a read-only folder now really refuses
    try:
        save_checkpoint(sys.argv[1], {"x": np.zeros(3)})
    except PermissionError as exc:
        print(exc)
        sys.exit(3)
""")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to run the writer as another user")
def test_a_real_read_only_folder_as_an_unprivileged_user(tmp_path):
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="gdlab-ro-"))  # pytest's tmp_path is root-only
    try:
        root.chmod(0o755)
        folder = root / "ro"
        folder.mkdir()
        ckpt = folder / "c.npz"
        save_checkpoint(ckpt, {"x": np.arange(3.0)})
        for p in (folder, ckpt):
            os.chown(p, 65534, 65534)
        folder.chmod(0o555)
        proc = subprocess.run([sys.executable, "-c", RO_DRIVER, str(ckpt),
                               str(tmp_path / "w.npz")],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 3, proc.stdout + proc.stderr
        assert "cannot write checkpoint" in proc.stdout and str(ckpt) in proc.stdout
        assert "Permission denied" in proc.stdout
        assert [p.name for p in folder.iterdir()] == ["c.npz"]
        np.testing.assert_array_equal(load_checkpoint(ckpt)[0]["x"], np.arange(3.0))
    finally:
        shutil.rmtree(root)


def test_partial_files_of_a_killed_save_are_cleaned_by_the_next_save(tmp_path):
    ckpt = tmp_path / "c.npz"
    (tmp_path / ".c.npz.abc123.tmp").write_bytes(b"half a checkpoint")
    (tmp_path / ".other.npz.abc123.tmp").write_bytes(b"not ours")
    (tmp_path / "notes.tmp").write_text("the user's")
    save_checkpoint(ckpt, {"x": np.arange(2.0)})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.npz.abc123.tmp", "c.npz",
                                                          "notes.tmp"]


# ---- the command line with a real file-size limit -------------------------------------------

# The kernel refuses to grow any file beyond RLIMIT_FSIZE (EFBIG): set a limit smaller than a
# checkpoint just before the checkpoint of epoch 3 is written, so the write fails part-way.
FSIZE_DRIVER = textwrap.dedent("""
    import resource, signal, sys
    import gdlab.training.checkpoint as C
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    original = C.save_checkpoint
    def save_checkpoint(path, state, *, config=None):
        if state.get("epoch") == 3:
            resource.setrlimit(resource.RLIMIT_FSIZE, (2048, resource.RLIM_INFINITY))
        return original(path, state, config=config)
    C.save_checkpoint = save_checkpoint
    from gdlab.cli import main
    sys.exit(main(sys.argv[1:]))
""")

ARGS = ["train", "--dataset", "iris", "--layers", "8", "--batch-size", "16", "--epochs", "6",
        "--tol", "none", "--checkpoint-every", "1", "--seed", "2", "--quiet"]


def gdlab(*args, cwd, driver=None):
    head = [sys.executable, "-c", driver] if driver else [sys.executable, "-m", "gdlab"]
    return subprocess.run(head + [str(a) for a in args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
def test_cli_file_size_limit_during_a_checkpoint_write(tmp_path):
    run = tmp_path / "run"
    proc = gdlab(*ARGS, "--out", run, cwd=tmp_path, driver=FSIZE_DRIVER)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if "error:" in x]
    assert len(lines) == 1, proc.stderr
    assert str(run / "checkpoint.npz") in lines[0] and "File too large" in lines[0]
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.npz", "config.json"]
    assert load_checkpoint(run / "checkpoint.npz")[0]["epoch"] == 2
    # once there is room again, --resume finishes the run as if nothing had happened
    assert gdlab("train", "--resume", run, "--quiet", cwd=tmp_path).returncode == 0
    assert gdlab(*ARGS, "--out", tmp_path / "whole", cwd=tmp_path).returncode == 0
    a = json.loads((run / "metrics.json").read_text())
    b = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert a["final_loss"] == b["final_loss"] and a["steps"] == b["steps"] == 6 * 7
    pa = load_checkpoint(run / "checkpoint.npz")[0]["net"]["params"]
    pb = load_checkpoint(tmp_path / "whole" / "checkpoint.npz")[0]["net"]["params"]
    np.testing.assert_array_equal(pa, pb)


# ---- damaged checkpoints on resume ------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A small finished run folder (iris, 1 epoch) made by the library job; its bytes are returned."""
    out = tmp_path_factory.mktemp("run") / "r"
    config = make_config(dataset="iris", layers=[4], epochs=1, tol=None, batch_size=16,
                         checkpoint_every=1)
    run_training(config, out, log=None)
    return out, (out / "checkpoint.npz").read_bytes()


def resume_error(out):
    config = {"epochs": 3}
    with pytest.raises(CheckpointError) as info:
        run_training(config, out, resume=True, log=None)
    return str(info.value)


def damaged(finished_run, tmp_path, data):
    src, _ = finished_run
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.json").write_bytes((src / "config.json").read_bytes())
    (out / "checkpoint.npz").write_bytes(data)
    return out


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_checkpoint_is_rejected_on_resume(finished_run, tmp_path, keep):
    raw = finished_run[1]
    out = damaged(finished_run, tmp_path, raw[: int(len(raw) * keep)])
    message = resume_error(out)
    assert str(out / "checkpoint.npz") in message
    assert "truncated" in message or "not a gdlab checkpoint" in message
    assert (out / "checkpoint.npz").stat().st_size == int(len(raw) * keep)  # left as it was
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize("where", [0, 0.25, 0.5, 0.75, -70, -1])
def test_bit_flipped_checkpoint_is_rejected_on_resume(finished_run, tmp_path, where):
    raw = bytearray(finished_run[1])
    i = int(where * len(raw)) if isinstance(where, float) else where
    raw[i] ^= 0x10
    out = damaged(finished_run, tmp_path, bytes(raw))
    message = resume_error(out)
    assert str(out / "checkpoint.npz") in message
    assert "corrupt" in message or "truncated" in message or "not a gdlab" in message


def test_version_mismatch_is_rejected_on_resume(finished_run, tmp_path, monkeypatch):
    state, config = load_checkpoint(finished_run[0] / "checkpoint.npz")
    monkeypatch.setattr(C, "VERSION", 99)
    save_checkpoint(tmp_path / "v99.npz", state, config=config)
    monkeypatch.undo()
    out = damaged(finished_run, tmp_path, (tmp_path / "v99.npz").read_bytes())
    message = resume_error(out)
    assert str(out / "checkpoint.npz") in message and "version 99" in message
    assert f"reads version {C.VERSION}" in message


def test_foreign_files_are_rejected_on_resume(finished_run, tmp_path):
    for i, data in enumerate([b"", b"hello", os.urandom(5000)]):
        (tmp_path / str(i)).mkdir()
        out = damaged(finished_run, tmp_path / str(i), data)
        message = resume_error(out)
        assert str(out / "checkpoint.npz") in message


@pytest.mark.slow
def test_cli_resume_of_a_corrupt_checkpoint_exits_2_with_one_error_line(finished_run, tmp_path):
    raw = bytearray(finished_run[1])
    raw[len(raw) // 3] ^= 0x01
    out = damaged(finished_run, tmp_path, bytes(raw))
    proc = gdlab("train", "--resume", out, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if "error:" in x]
    assert len(lines) == 1, proc.stderr
    assert str(out / "checkpoint.npz") in lines[0] and "checksum" in lines[0]
