"""gdlab.lab.compare and its parts: the sweep's specification, one configuration, the records,
the journal a sweep resumes from and the folder it writes (in this process; the command and
its worker processes, signals and MPI ranks are tested in tests/cli/test_compare_sweep.py)."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from gdlab.lab.compare import Sweep, make_sweep, run_comparison, run_configuration
from gdlab.lab.compare_folder import RECORDS_FILE, SWEEP_FILE, SweepFolder
from gdlab.lab.compare_records import RunRecord, record_from_json, record_to_json
from gdlab.lab.run_folder import RunFolderError

BASE = {"dataset": "iris", "layers": [4], "activation": "tanh"}


def small_sweep(**overrides):
    kwargs = dict(optimizers=["sgd", "adam"], batch_sizes=["full", 16], lrs=[0.1], seeds=2,
                  epochs=2)
    kwargs.update(overrides)
    return make_sweep(BASE, **kwargs)


def record(i, **overrides):
    fields = dict(optimizer="sgd", batch_size=16, lr=0.1, seed=i, status="ok", epochs=2,
                  steps=14, final_loss=0.1 + i / 3, loss=[1 / 3, 0.2 + i], val_metric=[0.5, 0.7],
                  time=[0.01, 0.02])
    fields.update(overrides)
    return RunRecord(**fields)


# ---- the specification ----------------------------------------------------------------------

def test_configurations_are_numbered_seed_by_seed_in_the_grid_order():
    sweep = small_sweep(lrs=[0.1, 0.01])
    expected = [(seed, *combo) for seed in range(2) for combo in
                itertools.product(["sgd", "adam"], ["full", 16], [0.1, 0.01])]
    assert sweep.size == len(expected) == 16
    assert [sweep.configuration(i) for i in range(sweep.size)] == expected
    config = sweep.run_config(13)
    assert (config["seed"], config["optimizer"], config["batch_size"], config["lr"]) == \
        expected[13]
    assert config["epochs"] == 2 and config["tol"] is None and config["dataset"] == "iris"


def test_a_sweep_survives_its_json_form():
    sweep = small_sweep(target_loss=0.5, threads=2)
    again = Sweep.from_json(json.loads(json.dumps(sweep.to_json())))
    assert again == sweep


def test_bad_sweeps_are_errors_that_name_the_value():
    with pytest.raises(ValueError, match="optimizers must be a non-empty list"):
        small_sweep(optimizers=[])
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'; did you mean 'adam'"):
        small_sweep(optimizers=["adamm"])
    with pytest.raises(ValueError, match="learning rate"):
        small_sweep(lrs=[-0.1])
    with pytest.raises(ValueError, match="threads must be a positive integer, got 0"):
        small_sweep(threads=0)
    with pytest.raises(ValueError, match="batch size must be a positive integer"):
        small_sweep(batch_sizes=[0])
    with pytest.raises(ValueError, match="not a sweep: no 'seeds'"):
        Sweep.from_json({"base": BASE, "optimizers": ["sgd"], "batch_sizes": [1], "lrs": [1.0],
                         "epochs": 1})


# ---- one configuration -------------------------------------------------------------------------

def test_a_configuration_that_fails_is_a_record_with_its_reason():
    sweep = small_sweep()
    broken = Sweep(sweep.base, ("sgd", "nope"), sweep.batch_sizes, sweep.lrs, 1, 2)
    ok, failed = run_configuration(broken, 0), run_configuration(broken, 2)
    assert ok.status == "ok" and math.isfinite(ok.final_loss) and ok.reason == ""
    assert failed.status == "failed" and failed.optimizer == "nope" and failed.seed == 0
    assert "unknown optimizer 'nope'" in failed.reason
    assert math.isnan(failed.final_loss) and failed.loss == []


def test_run_comparison_in_memory_orders_rows_and_counts_what_went_wrong():
    result = run_comparison(BASE, optimizers=["sgd", "adam"], batch_sizes=[16], lrs=[0.1, 1e4],
                            seeds=2, epochs=3, log=None)
    records = result["records"]
    assert [(r.seed, r.optimizer, r.lr) for r in records] == [
        (s, o, lr) for s in range(2) for o in ("sgd", "adam") for lr in (0.1, 1e4)]
    assert result["not_run"] == [] and result["signal"] is None and result["out"] is None
    diverged = [r for r in records if r.status == "diverged"]
    assert diverged and all(r.lr == 1e4 and "diverged" in r.reason for r in diverged)
    by_config = {(s["optimizer"], s["lr"]): s for s in result["summary"]}
    assert all(s["runs"] == 2 and s["failed"] == 0 for s in by_config.values())
    assert by_config[("sgd", 1e4)]["diverged"] == sum(
        r.status == "diverged" for r in records if (r.optimizer, r.lr) == ("sgd", 1e4))


# ---- records and the journal ------------------------------------------------------------------

def test_records_survive_json_bit_for_bit():
    rec = record(1, final_loss=0.1 + 0.2, loss=[1 / 3, math.nan], status="diverged",
                 reason="diverged at epoch 2")
    back = record_from_json(json.loads(json.dumps(record_to_json(rec))))
    assert back.final_loss == 0.1 + 0.2 and back.loss[0] == 1 / 3 and math.isnan(back.loss[1])
    assert (back.status, back.reason, back.batch_size) == ("diverged", "diverged at epoch 2", 16)
    with pytest.raises(ValueError, match="status 'lost'"):
        record_from_json({**record_to_json(rec), "status": "lost"})


def test_the_journal_skips_a_torn_last_line_and_appends_after_it(tmp_path):
    folder = SweepFolder.create(tmp_path / "s", small_sweep().to_json())
    records = {}
    for i in (3, 0):
        records[i] = record(i)
        folder.add(i, records[i], records)
    path = tmp_path / "s" / RECORDS_FILE
    with path.open("a") as fh:
        fh.write('{"index": 5, "optimizer": "sg')  # killed while writing
    _, spec, read = SweepFolder.open(tmp_path / "s")
    assert spec["configurations"] == 8
    assert sorted(read) == [0, 3] and read[3] == records[3]
    assert path.read_text().endswith("\n")
    folder.add(5, record(5), {**read, 5: record(5)})
    assert sorted(SweepFolder(tmp_path / "s").read_records()) == [0, 3, 5]


def test_a_bad_line_inside_the_journal_is_an_error_naming_it(tmp_path):
    folder = SweepFolder.create(tmp_path / "s", small_sweep().to_json())
    folder.add(0, record(0), {0: record(0)})
    path = tmp_path / "s" / RECORDS_FILE
    path.write_text("not json\n" + path.read_text())
    with pytest.raises(RunFolderError, match=r"line 1 of .*records.jsonl"):
        SweepFolder.open(tmp_path / "s")


def test_results_csv_lists_finished_rows_in_the_order_of_the_configurations(tmp_path):
    import csv

    folder = SweepFolder.create(tmp_path / "s", small_sweep().to_json())
    records = {i: record(i) for i in (5, 1, 3)}
    folder.write_results(records)
    with open(tmp_path / "s" / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["seed"] for r in rows] == ["1", "3", "5"]
    assert rows[0]["final_loss"] == repr(0.1 + 1 / 3) and rows[0]["reason"] == ""


def test_a_folder_with_another_sweep_is_refused_unless_forced(tmp_path):
    out = tmp_path / "s"
    SweepFolder.create(out, small_sweep().to_json())
    (out / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="already holds a sweep; finish it with --resume"):
        SweepFolder.create(out, small_sweep(seeds=1).to_json())
    SweepFolder.create(out, small_sweep(seeds=1).to_json(), force=True)
    assert json.loads((out / SWEEP_FILE).read_text())["seeds"] == 1
    assert (out / "notes.txt").read_text() == "mine"  # only the sweep's own files go
    with pytest.raises(RunFolderError, match="no sweep to resume"):
        SweepFolder.open(tmp_path / "nothing")
