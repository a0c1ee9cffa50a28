"""Compare mode over the API: two configurations in lockstep from the same initial weights and
the same batches (``POST /api/compare``), controlled as one."""

import pytest

from gdlab.playground.experiment import train

BASE = {"dataset": "moons", "layers": [8, 8], "lr": 0.03, "batch_size": 8, "max_steps": 1500,
        "record_every": 25, "seed": 2}


def _compare(server, a, b, paused=False):
    body = server.post("/api/compare" + ("?paused=1" if paused else ""), {"a": a, "b": b},
                       expect=201)
    ids = [run["id"] for run in body["runs"]]
    assert body["runs"][0]["compare_with"] == [ids[1]]
    assert body["runs"][1]["compare_with"] == [ids[0]]
    return ids


def test_one_optimizer_on_both_sides_gives_identical_histories(server):
    config = {**BASE, "optimizer": "adam"}
    a, b = (server.finished(i) for i in _compare(server, config, config))
    assert a["status"] == b["status"] == "done" and a["step"] == b["step"] == 1500
    assert a["history"] == b["history"] and len(a["history"]) == 61
    assert a["history"] == train(config)["history"]        # as one run alone, in one thread


def test_sgd_against_adam_starts_alike_and_parts(server):
    sgd, adam = {**BASE, "optimizer": "sgd"}, {**BASE, "optimizer": "adam"}
    a, b = (server.finished(i) for i in _compare(server, sgd, adam))
    assert a["status"] == b["status"] == "done"
    # the same initial weights on the same data: step 0 is one picture on both sides ...
    assert a["history"][0] == b["history"][0]
    # ... and then what differs is the optimizer alone
    assert a["history"] != b["history"]
    assert a["history"][-1]["loss"] != b["history"][-1]["loss"]
    assert a["history"] == train(sgd)["history"] and b["history"] == train(adam)["history"]


def test_the_two_runs_pause_step_resume_and_stop_as_one(server):
    long = {**BASE, "max_steps": 100_000, "record_every": 500}
    ids = _compare(server, long, {**long, "batch_size": "full", "optimizer": "sgd"})
    server.wait(ids[0], lambda r: r["step"] > 50)
    paused = server.post(f"/api/runs/{ids[1]}/pause")       # either run pauses both
    steps = [server.get(f"/api/runs/{i}")["step"] for i in ids]
    assert paused["status"] == "paused" and steps[0] == steps[1] == paused["step"]
    assert all(server.get(f"/api/runs/{i}")["status"] == "paused" for i in ids)
    server.post(f"/api/runs/{ids[0]}/step")
    assert [server.get(f"/api/runs/{i}")["step"] for i in ids] == [steps[0] + 1] * 2
    server.post(f"/api/runs/{ids[0]}/resume")
    server.wait(ids[1], lambda r: r["step"] > steps[0] + 200)
    server.post(f"/api/runs/{ids[0]}/pause")
    assert len({server.get(f"/api/runs/{i}")["step"] for i in ids}) == 1   # still in step
    stopped = server.post(f"/api/runs/{ids[0]}/stop")
    assert stopped["status"] == "stopped"
    assert server.get(f"/api/runs/{ids[1]}")["status"] == "stopped"


def test_a_side_that_diverges_leaves_the_other_running(server):
    calm = {"dataset": "curve", "optimizer": "sgd", "lr": 0.1, "max_steps": 1000}
    a, b = (server.finished(i) for i in _compare(server, calm, {**calm, "lr": 1}))
    assert b["status"] == "diverged" and b["diverged"]["step"] < 100
    assert a["status"] == "done" and a["step"] == 1000


@pytest.mark.parametrize("body, field, words", [
    ('{"a": {}, "b": {"lr": -1}}', "b.lr", "b: lr"),
    ('{"a": {"optimizer": "adamm"}}', "a.optimizer", "did you mean 'adam'"),
    ('{"a": {}, "c": {}}', None, '{"a": configuration, "b": configuration}'),
    ('[1, 2]', None, "got list"),
    ('{"a": [], "b": {}}', "a", "JSON object"),
])
def test_a_bad_comparison_is_400_naming_the_side_and_field(server, body, field, words):
    before = len(server.get("/api/runs")["runs"])
    status, answer, _ = server.request("POST", "/api/compare", raw=body)
    assert status == 400 and answer["field"] == field, answer
    assert words in answer["error"], answer
    assert len(server.get("/api/runs")["runs"]) == before     # nothing started


def test_a_fast_run_waits_for_a_slow_one_step_for_step(server):
    fast = {"dataset": "xor", "layers": [2], "batch_size": 4, "max_steps": 100_000,
            "record_every": 500}
    slow = {**fast, "layers": [64, 64, 64], "n_samples": 2000, "batch_size": "full"}
    ids = _compare(server, fast, slow)
    server.wait(ids[1], lambda r: r["step"] > 20)
    gaps = []
    for _ in range(20):
        runs = {r["id"]: r for r in server.get("/api/runs")["runs"]}
        gaps.append(abs(runs[ids[0]]["step"] - runs[ids[1]]["step"]))
    server.post(f"/api/runs/{ids[0]}/stop")
    # alone, the small network would take hundreds of steps for each of the large one's
    assert max(gaps) <= 2, gaps
