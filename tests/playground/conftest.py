"""The playground's server as a real subprocess (``gdlab playground --port 0``) on 127.0.0.1,
driven through http.client; the port is the one the server prints once it is bound."""

import http.client
import json
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

import pytest

START_TIMEOUT = 60   # seconds for the server to print its address (a busy machine is slow)
WAIT_TIMEOUT = 120   # seconds for a run to reach a state


class Server:
    """``gdlab playground --no-browser --port 0 ARGS`` and a small JSON client for it."""

    def __init__(self, *args):
        self.log = tempfile.TemporaryFile(mode="w+")   # a pipe nobody reads could fill up
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gdlab", "playground", "--no-browser", "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self._first_line()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if match is None:
            self.close()
            raise AssertionError(f"no address in {line!r}; stderr: {self.stderr()}")
        self.port = int(match.group(1))
        self.url = match.group(0)

    def _first_line(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        if not ready:
            self.close()
            raise AssertionError("the playground did not print its address in time")
        return self.proc.stdout.readline()

    def request(self, method, path, body=None, *, raw=None, headers=None, timeout=60):
        """``(status, decoded JSON or text, response headers)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        hdrs = {"Content-Type": "application/json"} if data is not None else {}
        hdrs.update(headers or {})
        try:
            conn.request(method, path, body=data, headers=hdrs)
            response = conn.getresponse()
            text = response.read().decode("utf-8")
            kind = response.getheader("Content-Type", "")
            value = json.loads(text) if kind.startswith("application/json") else text
            return response.status, value, dict(response.getheaders())
        finally:
            conn.close()

    def get(self, path):
        status, value, _ = self.request("GET", path)
        assert status == 200, (path, status, value)
        return value

    def post(self, path, body=None, expect=200):
        status, value, _ = self.request("POST", path, body)
        assert status == expect, (path, status, value)
        return value

    def start(self, config, paused=False):
        return self.post("/api/runs" + ("?paused=1" if paused else ""), config, expect=201)["id"]

    def wait(self, run_id, until, timeout=WAIT_TIMEOUT):
        """Poll the run (without touching it: the list) until ``until(summary)`` holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = {r["id"]: r for r in self.get("/api/runs")["runs"]}
            if until(runs[run_id]):
                return runs[run_id]
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not get there in {timeout} s: {runs[run_id]}")

    def finished(self, run_id, timeout=WAIT_TIMEOUT):
        self.wait(run_id, lambda r: r["status"] in ("done", "diverged", "stopped"), timeout)
        return self.get(f"/api/runs/{run_id}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()


def _web_stack():
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def server():
    _web_stack()
    srv = Server()
    yield srv
    assert srv.proc.poll() is None, "the server died during the tests"
    srv.close()
    errors = srv.stderr()
    assert "Traceback" not in errors and "internal error" not in errors, errors[-3000:]
    assert srv.proc.returncode == 130, errors[-3000:]   # Ctrl-C, as every gdlab command


@pytest.fixture
def small_server():
    """A server that keeps 2 active runs and stops a run idle for 1 s."""
    _web_stack()
    srv = Server("--max-runs", "2", "--idle-timeout", "1")
    yield srv
    srv.close()


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """This process computes reference histories as the server does: with one BLAS thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (see browser.py), one per test module."""
    from browser import _chrome

    chrome = _chrome()
    yield chrome
    chrome.quit()
