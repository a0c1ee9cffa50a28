"""The playground's JSON API, driven over HTTP: the server runs as a subprocess
(``gdlab playground --port 0``, a free port on 127.0.0.1) as a user starts it."""

import base64
import http.client
import json
import subprocess
import sys
import time

import numpy as np
import pytest
from bad_configs import BAD_CONFIGS

from gdlab.playground.experiment import train
from gdlab.playground.server import STATIC

SPIRALS = {"dataset": "spirals", "layers": [16, 16], "activation": "tanh", "optimizer": "adam",
           "lr": 0.03, "batch_size": 16, "seed": 0}


def test_the_server_computes_with_one_blas_thread(server):
    threads = server.get("/api/options")["server"]["blas_threads"]
    assert threads and set(threads) == {1}


def test_adam_learns_the_spirals_within_the_step_limit(server):
    run_id = server.start(SPIRALS)
    run = server.finished(run_id)
    assert run["status"] == "done" and run["stopped_because"] == "max_steps"
    assert run["step"] == run["config"]["max_steps"] == 5000
    history = run["history"]
    assert history[-1]["step"] == 5000
    assert max(e["accuracy"] for e in history) >= 0.95
    assert history[-1]["accuracy"] >= 0.95
    assert history[0]["accuracy"] < 0.8            # it was learned, not given
    keys = {"step", "loss", "val_loss", "accuracy", "lr", "grad_norms"}
    assert all(keys <= set(e) for e in history)


def test_two_runs_of_one_configuration_give_identical_histories(server):
    config = {"dataset": "moons", "layers": [12, 12], "batchnorm": True, "dropout": 0.2,
              "optimizer": "rmsprop", "momentum": 0.5, "lr": 0.01, "batch_size": 4,
              "max_steps": 1500, "record_every": 25, "seed": 3}
    ids = [server.start(config), server.start(config)]   # at the same time, in two threads
    a, b = (server.finished(i) for i in ids)
    assert a["status"] == b["status"] == "done"
    assert a["history"] == b["history"] and len(a["history"]) == 61
    # and the same history as plain gdlab code gives in this process, in one thread
    assert a["history"] == train(config)["history"]
    other = server.finished(server.start({**config, "optimizer": "adam", "momentum": None}))
    assert other["history"] != a["history"]


def test_pause_holds_the_step_step_advances_it_by_one_resume_continues(server):
    run_id = server.start({"dataset": "circles", "max_steps": 100_000, "record_every": 500})
    server.wait(run_id, lambda r: r["step"] > 0)
    paused = server.post(f"/api/runs/{run_id}/pause")
    assert paused["status"] == "paused"
    held = paused["step"]
    time.sleep(0.5)
    assert server.get(f"/api/runs/{run_id}")["step"] == held
    stepped = server.post(f"/api/runs/{run_id}/step")
    assert stepped["step"] == held + 1 and stepped["status"] == "paused"
    time.sleep(0.3)
    assert server.get(f"/api/runs/{run_id}")["step"] == held + 1
    assert server.post(f"/api/runs/{run_id}/resume")["status"] == "running"
    server.wait(run_id, lambda r: r["step"] > held + 100)
    stopped = server.post(f"/api/runs/{run_id}/stop")
    assert stopped["status"] == "stopped" and stopped["stopped_because"] == "requested"
    end = stopped["step"]
    time.sleep(0.2)
    assert server.get(f"/api/runs/{run_id}")["step"] == end < 100_000


def test_a_run_started_paused_stays_at_step_0_until_stepped(server):
    run_id = server.start({"dataset": "xor"}, paused=True)
    time.sleep(0.3)
    run = server.get(f"/api/runs/{run_id}")
    assert run["status"] == "paused" and run["step"] == 0
    assert [e["step"] for e in run["history"]] == [0]
    assert server.post(f"/api/runs/{run_id}/step")["step"] == 1
    server.post(f"/api/runs/{run_id}/stop")


def test_stepping_a_running_run_is_refused(server):
    run_id = server.start({"dataset": "circles", "max_steps": 100_000})
    status, body, _ = server.request("POST", f"/api/runs/{run_id}/step")
    assert status == 409 and "pause it" in body["error"]
    server.post(f"/api/runs/{run_id}/stop")


def test_sgd_with_learning_rate_100_diverges_and_says_where(server):
    run = server.finished(server.start({"dataset": "spirals", "optimizer": "sgd", "lr": 100}))
    assert run["status"] == "diverged" and run["stopped_because"] == "diverged"
    where = run["diverged"]
    assert where["lr"] == 100 and "learning rate 100" in where["message"]
    assert 1 <= where["step"] < 5000 and where["step"] >= run["history"][-1]["step"]
    assert run["step"] <= where["step"]


@pytest.mark.parametrize("name, body, field, words", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_a_bad_configuration_is_400_naming_the_field(server, name, body, field, words):
    before = len(server.get("/api/runs")["runs"])
    status, answer, _ = server.request("POST", "/api/runs", raw=body)
    assert status == 400, answer
    assert answer["field"] == field
    assert words.lower() in answer["error"].lower()
    if field is not None:
        assert field in answer["error"]
    assert len(server.get("/api/runs")["runs"]) == before   # no run was started


def test_bad_requests_get_an_answer_and_the_server_stays_up(server):
    cases = [
        ("POST", "/api/runs", "{not json", 400, "not valid JSON"),
        ("POST", "/api/runs", "[" * 5000 + "]" * 5000, 400, None),
        ("POST", "/api/runs", '{"seed": ' + "9" * 70_000 + "}", 413, "larger than"),
        ("GET", "/api/runs/nope", None, 404, "no run 'nope'"),
        ("POST", "/api/runs/nope/pause", None, 404, "no run"),
        ("GET", "/api/nothing", None, 404, "no such"),
        ("DELETE", "/api/runs", None, 405, "not allowed"),
        ("GET", "/static/../config.py", None, 404, None),
        ("GET", "/static/secret.txt", None, 404, "no such file"),
    ]
    for method, path, raw, status, words in cases:
        got, answer, _ = server.request(method, path, raw=raw)
        assert got == status, (method, path, got, answer)
        assert isinstance(answer, dict) and "error" in answer, answer
        if words:
            assert words in answer["error"], answer
    run_id = server.start({"dataset": "xor"}, paused=True)
    for path, raw, status in ((f"/api/runs/{run_id}/explode", None, 404),
                              (f"/api/runs/{run_id}/pace", '{"steps_per_second": -3}', 400),
                              (f"/api/runs/{run_id}/pace", '{"steps_per_second": "x"}', 400)):
        assert server.request("POST", path, raw=raw)[0] == status
    assert server.request("GET", f"/api/runs/{run_id}?since=-1")[0] == 400
    # another site's page cannot reach the server by DNS rebinding
    status, answer, _ = server.request("GET", "/api/runs", headers={"Host": "evil.example"})
    assert status == 400 and "Host" in answer["error"]
    assert server.proc.poll() is None
    assert "optimizers" in server.get("/api/options")
    server.post(f"/api/runs/{run_id}/stop")


def test_data_boundary_and_history_paging(server):
    run_id = server.start({"dataset": "moons", "n_samples": 200, "val_size": 0.25,
                           "max_steps": 300, "record_every": 10})
    data = server.get(f"/api/runs/{run_id}/data")
    assert len(data["X"]) == 150 and len(data["X_val"]) == 50 and data["task"] == "classification"
    assert sorted(set(data["y"] + data["y_val"])) == [0, 1]
    run = server.finished(run_id)
    page = server.get(f"/api/runs/{run_id}?since=25")
    assert page["history_start"] == 25 and page["history"] == run["history"][25:]
    grid = server.get(f"/api/runs/{run_id}/boundary")
    assert grid["step"] == 300 and len(grid["values"]) == 64
    assert all(len(row) == 64 and all(0 <= v <= 1 for v in row) for row in grid["values"])
    curve_id = server.start({"dataset": "curve", "max_steps": 50})
    server.finished(curve_id)
    curve = server.get(f"/api/runs/{curve_id}/boundary")
    assert curve["task"] == "regression" and len(curve["x"]) == len(curve["y"]) == 200
    assert server.get(f"/api/runs/{curve_id}")["history"][-1]["accuracy"] is None


def _events(server, path, timeout=120):
    """The (event, data) pairs of a Server-Sent Events stream, until its "end"."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    conn.request("GET", path)
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type").startswith("text/event-stream")
    events, event, deadline = [], {}, time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = response.readline().decode("utf-8").rstrip("\n")
        if line.startswith("event: "):
            event["event"] = line[7:]
        elif line.startswith("data: "):
            event["data"] = json.loads(line[6:])
        elif line == "" and event:
            events.append(event)
            if event["event"] == "end":
                break
            event = {}
    conn.close()
    return events


def test_the_event_stream_carries_the_whole_history_and_the_boundary(server):
    run_id = server.start({"dataset": "circles", "max_steps": 2000, "record_every": 20},
                          paused=True)
    streamed = []
    import threading

    reader = threading.Thread(
        target=lambda: streamed.extend(_events(server, f"/api/runs/{run_id}/events?fps=30")))
    reader.start()
    time.sleep(0.3)
    server.post(f"/api/runs/{run_id}/resume")
    reader.join(180)
    assert streamed and streamed[-1]["event"] == "end"
    updates = [e["data"] for e in streamed if e["event"] == "update"]
    history = []
    for frame in updates:
        assert frame["history_start"] == len(history)
        history += frame["history"]
    run = server.get(f"/api/runs/{run_id}")
    assert history == run["history"] and updates[-1]["finished"]
    assert updates[-1]["status"] == "done" and updates[-1]["step"] == 2000
    assert updates[0]["boundary"]["step"] == 0
    streamed = [f["boundary"] for f in updates if "boundary" in f][-1]
    assert streamed["step"] == 2000 and streamed["shape"] == [64, 64]
    # the stream's compact grid (a byte per cell) is the API's grid of probabilities
    served = server.get(f"/api/runs/{run_id}/boundary")
    assert served["step"] == 2000 and served["extent"] == streamed["extent"]
    packed = np.frombuffer(base64.b64decode(streamed["values_u8"]), dtype=np.uint8)
    np.testing.assert_allclose(packed.reshape(64, 64) / 255, served["values"], atol=0.5 / 255 + 1e-4)


def test_the_page_and_its_files_come_from_the_package_with_nothing_from_elsewhere(server):
    status, html, headers = server.request("GET", "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in headers["content-security-policy"]
    for name in (n for n in STATIC if n != "index.html"):
        assert f"/static/{name}" in html
        got, text, _ = server.request("GET", f"/static/{name}")
        assert got == 200 and len(text) > 500
        assert "http://" not in text and "https://" not in text, name   # no CDN: works offline
    assert "http://" not in html and "https://" not in html


def test_runs_are_bounded_and_idle_ones_stopped(small_server):
    srv = small_server
    a = srv.start({"dataset": "xor"}, paused=True)
    srv.start({"dataset": "xor"}, paused=True)
    status, answer, _ = srv.request("POST", "/api/runs", {"dataset": "xor"})
    assert status == 429 and "--max-runs 2" in answer["error"]
    # nobody asks about them (the list does not count): stopped after the idle time
    run = srv.wait(a, lambda r: r["status"] == "stopped", timeout=60)
    assert run["stopped_because"] == "idle"
    srv.wait(a, lambda r: all(x["status"] == "stopped" for x in srv.get("/api/runs")["runs"]))
    assert srv.start({"dataset": "xor"}, paused=True)


# ---- the command ---------------------------------------------------------------------------

def _gdlab(code, timeout=120):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)


def test_without_the_web_stack_the_command_says_what_to_install():
    out = _gdlab("import sys; sys.modules['starlette'] = None; sys.modules['uvicorn'] = None\n"
                 "from gdlab.cli.main import main; sys.exit(main(['playground', '--no-browser']))")
    assert out.returncode == 2, out.stderr
    assert "pip install 'gdlab[playground]'" in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize("args", [["--help"], ["playground", "--help"]])
def test_help_does_not_import_the_web_stack(args):
    out = _gdlab(f"import sys\nfrom gdlab.cli.main import main\n"
                 f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
                 "print([m for m in ('starlette', 'uvicorn', 'anyio') if m in sys.modules])")
    assert out.returncode == 0, out.stderr
    assert "playground" in out.stdout and out.stdout.strip().endswith("[]")
    if args[0] == "playground":
        assert "--no-browser" in out.stdout and "127.0.0.1" in out.stdout


def test_another_host_is_warned_about_and_a_busy_port_is_an_error(server):
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the bind fails after the warning
    out = subprocess.run([sys.executable, "-m", "gdlab", "playground", "--no-browser",
                          "--host", "192.0.2.1", "--port", "0"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "warning" in out.stderr and "other machines" in out.stderr
    assert "cannot listen on 192.0.2.1" in out.stderr
    busy = subprocess.run([sys.executable, "-m", "gdlab", "playground", "--no-browser",
                           "--port", str(server.port)], capture_output=True, text=True,
                          timeout=120)
    assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{server.port}" in busy.stderr
