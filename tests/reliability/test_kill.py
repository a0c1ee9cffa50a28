"""Reliability when a run is killed or interrupted: nothing is lost and the result is exact.

A ``gdlab train --checkpoint-every 1`` run is killed with SIGKILL (at random moments, and
deterministically during each phase of a checkpoint write), or stopped politely by SIGINT or
SIGTERM, then continued with ``--resume``; it must end with exactly the parameters, optimizer
state and ``final_loss`` of an uninterrupted run of the same command.

To hit a checkpoint write deterministically, the run is started through a small driver
(``python -c``) that imports gdlab and wraps ``gdlab.training.checkpoint._write`` / ``os.replace``: when
the checkpoint of a chosen epoch is being written it creates a marker file and sleeps, and the
test kills the process at that moment. The wrappers only add a pause; the bytes written are
gdlab's own.
"""

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from gdlab.training.checkpoint import load_checkpoint

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]

EPOCHS = 30
# dropout and a schedule put random streams and schedule state into the checkpoint as well
ARGS = ["train", "--dataset", "iris", "--layers", "8", "--batch-size", "1", "--epochs",
        str(EPOCHS), "--tol", "none", "--checkpoint-every", "1", "--seed", "7", "--dropout", "0.1",
        "--schedule", "step:step_size=4,gamma=0.8", "--quiet"]
STEPS_PER_EPOCH = 105  # iris: 105 training samples, batch size 1

DRIVER = textwrap.dedent("""
    import json, os, sys, time
    import gdlab.training.checkpoint as C

    spec = json.loads(sys.argv[1])
    saving = {"epoch": None}
    fired = []
    original_save, original_write, original_replace = C.save_checkpoint, C._write, os.replace

    def hit():
        if saving["epoch"] == spec["epoch"] and not fired:
            fired.append(1)
            open(spec["marker"], "w").close()
            time.sleep(600)

    def save_checkpoint(path, state, *, config=None):
        saving["epoch"] = state.get("epoch")
        try:
            return original_save(path, state, config=config)
        finally:
            saving["epoch"] = None

    def _write(f, data):
        if spec["phase"] == "mid-write":
            half = len(data) // 2
            f.write(data[:half])
            f.flush()
            os.fsync(f.fileno())
            hit()
            f.write(data[half:])
        else:
            original_write(f, data)

    def replace(src, dst, **kw):
        if spec["phase"] == "before-rename":
            hit()
        original_replace(src, dst, **kw)
        if spec["phase"] == "after-rename":
            hit()

    C.save_checkpoint, C._write = save_checkpoint, _write
    os.replace = replace
    from gdlab.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def gdlab(*args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "gdlab", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def start(args, cwd, spec=None):
    cmd = ([sys.executable, "-c", DRIVER, json.dumps(spec)] if spec is not None
           else [sys.executable, "-m", "gdlab"]) + [str(a) for a in args]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def wait_for(path: Path, proc, timeout=180):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {path.name} "
                                 f"appeared:\n{out}\n{err}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def epoch_of(run: Path):
    ckpt = run / "checkpoint.npz"
    return load_checkpoint(ckpt)[0]["epoch"] if ckpt.exists() else 0


def leaves(obj, prefix=""):
    """(path, value) for every leaf of a nested state, timings left out."""
    if isinstance(obj, dict):
        for key in sorted(obj):
            if key != "time":
                yield from leaves(obj[key], f"{prefix}/{key}")
    elif isinstance(obj, list) and not all(isinstance(v, (int, float)) for v in obj):
        for i, v in enumerate(obj):
            yield from leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj


def assert_same_run(run: Path, ref: Path):
    """Bit-identical final state (every array and number) and metrics, timings aside."""
    a, meta_a = load_checkpoint(run / "checkpoint.npz")
    b, meta_b = load_checkpoint(ref / "checkpoint.npz")
    assert meta_a == meta_b
    la, lb = dict(leaves(a)), dict(leaves(b))
    assert la.keys() == lb.keys()
    for key in la:
        if isinstance(la[key], np.ndarray):
            assert la[key].dtype == lb[key].dtype, key
            np.testing.assert_array_equal(la[key], lb[key], err_msg=key)
        else:
            assert la[key] == lb[key], key
    ma = json.loads((run / "metrics.json").read_text())
    mb = json.loads((ref / "metrics.json").read_text())
    for m in (ma, mb):
        m.pop("seconds")
        # a resumed run records the schedule horizon it keeps (the first run's --epochs)
        assert m["config"].pop("schedule_horizon", EPOCHS) == EPOCHS
    assert ma == mb
    assert ma["epochs"] == EPOCHS and ma["steps"] == EPOCHS * STEPS_PER_EPOCH


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    proc = gdlab(*ARGS, "--out", root / "run", cwd=root)
    assert proc.returncode == 0, proc.stderr
    return root / "run"


def test_sigkill_during_each_phase_of_a_checkpoint_write_then_resume(tmp_path, reference):
    run = tmp_path / "run"
    phases = [("mid-write", 3), ("before-rename", 9), ("after-rename", 16)]
    for i, (phase, epoch) in enumerate(phases):
        marker = tmp_path / f"marker-{phase}"
        args = ARGS + ["--out", run] if i == 0 else ["train", "--resume", run, "--quiet"]
        proc = start(args, tmp_path, {"phase": phase, "epoch": epoch, "marker": str(marker)})
        wait_for(marker, proc)
        kill(proc)
        temps = list(run.glob(".checkpoint.npz.*"))
        if phase == "after-rename":
            assert epoch_of(run) == epoch  # the new checkpoint is complete
        else:
            # the half-written or complete-but-unrenamed file is there; the old one is intact
            assert temps, "the kill did not land during the write"
            assert epoch_of(run) == epoch - 1
        assert not (run / "metrics.json").exists()
    proc = gdlab("train", "--resume", run, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_same_run(run, reference)
    assert not list(run.glob(".checkpoint.npz.*"))  # the next save removed the partial files


def wait_for_epoch(run: Path, proc, epoch, timeout=180, or_timeout=False):
    """Wait until the run has checkpointed ``epoch`` (with ``or_timeout``: or ``timeout`` seconds
    have passed, whichever comes first); the run must be alive all along."""
    deadline = time.monotonic() + timeout
    while epoch_of(run) < epoch:
        assert proc.poll() is None, proc.communicate()
        if time.monotonic() >= deadline:
            assert or_timeout, f"epoch {epoch} never checkpointed"
            return
        time.sleep(0.002)


def test_sigkill_at_random_moments_then_resume(tmp_path, reference):
    # The first kill comes at a random time after start (perhaps before training begins), but
    # no later than the first checkpoint; the others at random epochs, a random fraction of an
    # epoch after its checkpoint (so every kill lands mid-run however fast the machine is).
    rng = np.random.default_rng(2024)
    run = tmp_path / "run"
    targets = sorted(rng.choice(np.arange(2, EPOCHS - 1), size=3, replace=False))
    killed_at = []
    for i in range(4):
        # killed before config.json existed, there is no run yet: start it again
        resumable = (run / "config.json").exists()
        args = ["train", "--resume", run, "--quiet"] if resumable else ARGS + ["--out", run]
        proc = start(args, tmp_path)
        if i == 0:
            wait_for_epoch(run, proc, 1, timeout=rng.uniform(0.0, 1.0), or_timeout=True)
        else:
            wait_for_epoch(run, proc, targets[i - 1])
            time.sleep(rng.uniform(0.0, 0.03))
        assert proc.poll() is None, proc.communicate()
        kill(proc)
        killed_at.append(epoch_of(run))
    assert all(0 < e < EPOCHS for e in killed_at[1:]), killed_at
    proc = gdlab("train", "--resume", run, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_same_run(run, reference)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_signal_during_a_checkpoint_write_checkpoints_and_resumes_exactly(
        tmp_path, reference, sig, code):
    run, marker, epoch = tmp_path / "run", tmp_path / "marker", 5
    proc = start(ARGS + ["--out", run], tmp_path,
                 {"phase": "mid-write", "epoch": epoch, "marker": str(marker)})
    wait_for(marker, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert f"Resume with: gdlab train --resume {run}" in err
    # the interrupted write was abandoned (no temporary left) and the state of the epoch it
    # was writing is in the checkpoint
    assert not list(run.glob(".checkpoint.npz.*"))
    assert epoch_of(run) == epoch
    proc = gdlab("train", "--resume", run, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_same_run(run, reference)


def test_sigint_mid_epoch_stops_promptly_and_resumes_exactly(tmp_path, reference):
    run = tmp_path / "run"
    proc = start(ARGS + ["--out", run], tmp_path)
    wait_for_epoch(run, proc, 3)
    time.sleep(0.01)  # into epoch 4
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert time.monotonic() - sent < 30  # stops at once, not at the end of the run
    assert proc.returncode == 130, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("interrupted at epoch") and f"gdlab train --resume {run}" in line
    done = epoch_of(run)
    assert 1 <= done < EPOCHS
    assert f"interrupted at epoch {done}," in line
    assert not (run / "metrics.json").exists()
    proc = gdlab("train", "--resume", run, "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_same_run(run, reference)
