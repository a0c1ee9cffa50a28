"""The playground's web server: the page, the JSON API and the live stream (Starlette, uvicorn).

Routes (every answer is JSON, errors ``{"error": message, "field": key or null}``)::

    GET  /                          the page (static HTML, CSS and JavaScript from the package)
    GET  /api/options               defaults, limits, data sets, activations, optimizers
    GET  /api/runs                  every run's summary
    POST /api/runs[?paused=1]       start a run of the configuration in the body -> 201 {"id", ...}
    GET  /api/runs/{id}[?since=K]   summary, configuration and history (from entry K on)
    GET  /api/runs/{id}/data        the training and validation points, the box drawn
    GET  /api/runs/{id}/boundary    the prediction grid (or curve) at the latest snapshot
    GET  /api/runs/{id}/events      Server-Sent Events: "update" frames, then "end"
    POST /api/runs/{id}/pause | resume | step | stop
    POST /api/runs/{id}/pace        {"steps_per_second": N or null}
    POST /api/compare[?paused=1]    {"a": config, "b": config}: two runs in lockstep -> 201
    POST /api/code                  the Python and the gdlab train command of the configuration

The process trains with one BLAS thread (:func:`serve` sets it), one Python thread per run.
It never reads or writes a file on a request's behalf, bodies are limited to
:data:`MAX_BODY` bytes, and when it listens on a loopback address it answers only requests
addressed to a loopback name (a web page elsewhere cannot reach it by DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import json
import math
import socket
import sys
import threading
import webbrowser
from contextlib import asynccontextmanager
from importlib import resources

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gdlab.playground.config import ConfigError, check_config, options
from gdlab.playground.links import LINK_KEYS
from gdlab.playground.presets import PRESETS
from gdlab.playground.runs import SIDES, RunManager, TooManyRuns
from gdlab.playground.snippets import code_for

#: the largest request body read, in bytes
MAX_BODY = 64 * 1024

#: the page's files: name -> media type
STATIC = {"index.html": "text/html; charset=utf-8", "style.css": "text/css; charset=utf-8",
          **{name: "text/javascript; charset=utf-8" for name in (
              "charts.js", "links.js", "form.js", "draw.js", "compare.js", "code.js", "app.js")}}

#: what the page may load: its own files only (no CDN, nothing from elsewhere)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; connect-src 'self'",
    "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache",
}

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


class ApiError(Exception):
    def __init__(self, status, message, field=None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def finite(value):
    """``value`` made JSON-safe: NaN and infinities become None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(value) -> str:
    return json.dumps(finite(value), allow_nan=False, separators=(",", ":"))


def _json(value, status=200) -> Response:
    return Response(dumps(value), status_code=status, media_type="application/json")


async def _read_json(request, *, default=None):
    """The request's JSON body (``default`` when empty), or an ApiError."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, f"the request body is larger than {MAX_BODY} bytes")
    if not body.strip():
        return default
    try:
        return json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc})") from None


def create_app(manager: RunManager, *, allowed_hosts=LOOPBACK_NAMES, reap_every=5.0) -> Starlette:
    """The ASGI application over ``manager``; ``allowed_hosts=None`` accepts any Host header
    (for a server that listens beyond this machine, by the user's choice)."""
    pages = {name: resources.files("gdlab.playground").joinpath("static", name).read_bytes()
             for name in STATIC}

    def page(request):
        name = request.path_params.get("name", "index.html")
        if name not in pages:
            raise ApiError(404, f"no such file {name!r}")
        return Response(pages[name], media_type=STATIC[name], headers=SECURITY_HEADERS)

    api = _Api(manager)
    routes = [Route("/", page), Route("/static/{name}", page),
              Route("/api/options", api.options), Route("/api/runs", api.list_runs),
              Route("/api/runs", api.create, methods=["POST"]),
              Route("/api/compare", api.compare, methods=["POST"]),
              Route("/api/code", api.code, methods=["POST"]),
              Route("/api/runs/{id}", api.get),
              Route("/api/runs/{id}/data", api.data),
              Route("/api/runs/{id}/boundary", api.boundary),
              Route("/api/runs/{id}/events", api.events),
              Route("/api/runs/{id}/pace", api.pace, methods=["POST"]),
              Route("/api/runs/{id}/{action}", api.control, methods=["POST"])]

    async def reaper():
        while True:
            await anyio.sleep(min(reap_every, max(0.05, manager.idle_timeout / 4)))
            await run_in_threadpool(manager.reap_idle)

    @asynccontextmanager
    async def lifespan(app):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(reaper)
            yield
            tasks.cancel_scope.cancel()
        await run_in_threadpool(manager.shutdown)

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected})
    return _HostCheck(app, allowed_hosts) if allowed_hosts else app


async def _api_error(request, exc):
    return _json({"error": exc.message, "field": exc.field}, exc.status)


async def _http_error(request, exc):
    detail = {404: "no such page or API route", 405: "method not allowed"}.get(
        exc.status_code, str(exc.detail))
    return _json({"error": f"{detail}: {request.method} {request.url.path}", "field": None},
                 exc.status_code)


async def _unexpected(request, exc):
    print(f"gdlab playground: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
    return _json({"error": f"internal error ({type(exc).__name__}: {exc})", "field": None}, 500)


class _Api:
    """The JSON endpoints over a RunManager."""

    def __init__(self, manager: RunManager):
        self.manager = manager

    def _run(self, request):
        try:
            return self.manager.get(request.path_params["id"])
        except KeyError as exc:
            raise ApiError(404, exc.args[0]) from None

    def options(self, request):
        from threadpoolctl import threadpool_info

        blas = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
        presets = {name: preset.to_json() for name, preset in PRESETS.items()}
        return _json({**options(), "presets": presets, "link_keys": list(LINK_KEYS),
                      "server": {"blas_threads": blas}})

    def list_runs(self, request):
        return _json({"runs": [run.summary() for run in self.manager.runs()]})

    async def create(self, request):
        config = await _read_json(request, default={})
        paused = request.query_params.get("paused", "0").lower() in ("1", "true", "yes")
        try:
            check_config(config)  # a bad configuration costs no thread
            run = await run_in_threadpool(lambda: self.manager.create(config, paused=paused))
        except ConfigError as exc:
            raise ApiError(400, str(exc), exc.field) from None
        except TooManyRuns as exc:
            raise ApiError(429, str(exc)) from None
        return _json({**run.summary(), "config": run.config}, 201)

    async def compare(self, request):
        body = await _read_json(request, default={})
        if not isinstance(body, dict) or set(body) - set(SIDES):
            raise ApiError(400, 'compare takes {"a": configuration, "b": configuration}, got '
                                f"{_describe_body(body)}")
        configs = [body.get(side, {}) for side in SIDES]
        paused = request.query_params.get("paused", "0").lower() in ("1", "true", "yes")
        try:
            runs = await run_in_threadpool(
                lambda: self.manager.create_group(configs, paused=paused))
        except ConfigError as exc:
            raise ApiError(400, str(exc), exc.field) from None
        except TooManyRuns as exc:
            raise ApiError(429, str(exc)) from None
        return _json({"runs": [{**run.summary(), "config": run.config} for run in runs]}, 201)

    async def code(self, request):
        config = await _read_json(request, default={})
        try:
            return _json(await run_in_threadpool(code_for, config))
        except ConfigError as exc:
            raise ApiError(400, str(exc), exc.field) from None

    def get(self, request):
        since = request.query_params.get("since", "0")
        if not since.isdigit():
            raise ApiError(400, f"since must be a history index (0, 1, ...), got {since!r}",
                           "since")
        return _json(self._run(request).info(int(since)))

    def data(self, request):
        return _json(self._run(request).data())

    def boundary(self, request):
        return _json(self._run(request).boundary())

    def control(self, request):
        run, action = self._run(request), request.path_params["action"]
        if action == "pause":
            run.controls.pause()
        elif action == "resume":
            run.controls.resume()
        elif action == "stop":
            for member in run.group:
                member.stop()
        elif action == "step":
            if not run.controls.step() and not run.finished:
                raise ApiError(409, "the run is running: pause it before stepping once")
        else:
            raise ApiError(404, f"no action {action!r}; use pause, resume, step, stop or pace")
        return _json(run.summary())

    async def pace(self, request):
        run = self._run(request)
        body = await _read_json(request)
        value = body.get("steps_per_second") if isinstance(body, dict) else body
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0.1 <= value <= 1e6):
            raise ApiError(400, f"steps_per_second must be a number in [0.1, 1e6] or null, "
                                f"got {value!r}", "steps_per_second")
        run.controls.set_pace(value)
        return _json(run.summary())

    def events(self, request):
        run = self._run(request)
        fps = request.query_params.get("fps", "20")
        try:
            fps = min(60.0, max(1.0, float(fps)))
        except ValueError:
            raise ApiError(400, f"fps must be a number, got {fps!r}", "fps") from None
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(self._stream(run, fps), media_type="text/event-stream",
                                 headers=headers)

    async def _stream(self, run, fps):
        """Frames while anything changes, at most ``fps`` a second; "end" once the run ended."""
        run.watch(1)
        cursor = {"history": 0, "version": -1, "state": None, "quiet": 0.0}
        try:
            while not self.manager.closing:
                frame = await run_in_threadpool(_frame, run, cursor)
                if frame is not None:
                    yield f"event: update\ndata: {dumps(frame)}\n\n"
                if frame is not None and frame["finished"]:
                    yield "event: end\ndata: {}\n\n"
                    return
                cursor["quiet"] = 0.0 if frame is not None else cursor["quiet"] + 1 / fps
                if cursor["quiet"] >= 15:  # a comment now and then finds closed connections
                    cursor["quiet"] = 0.0
                    yield ": keep-alive\n\n"
                await anyio.sleep(1 / fps)
        finally:
            run.watch(-1)


def _describe_body(body) -> str:
    if isinstance(body, dict):
        return f"the keys {', '.join(map(repr, body))}"
    return type(body).__name__


def _frame(run, cursor) -> dict | None:
    """What changed since ``cursor``: the summary, new history entries, a new boundary (None
    when nothing changed)."""
    finished = run.finished  # read first, so that a final frame holds the final state
    summary = run.summary()
    entries = run.history_since(cursor["history"])
    version = run.snapshot_version
    state = (summary["status"], summary["step"], summary["pace"])
    if not entries and version == cursor["version"] and state == cursor["state"] and not finished:
        return None
    frame = {**summary, "finished": finished, "history_start": cursor["history"],
             "history": entries}
    if version != cursor["version"]:
        frame["boundary"] = run.boundary(compact=True)
    cursor.update(history=cursor["history"] + len(entries), version=version, state=state)
    return frame


class _HostCheck:
    """Answers 400 to a request whose Host header names none of ``allowed`` (ASGI middleware)."""

    def __init__(self, app, allowed):
        self.app, self.allowed = app, {h.lower() for h in allowed}

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            host = dict(scope["headers"]).get(b"host", b"").decode("latin-1").lower()
            name = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
            if name not in self.allowed:
                response = _json({"error": f"unexpected Host header {host!r}", "field": None},
                                 400)
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (``localhost``, ``127.x.x.x``, ``::1``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(host="127.0.0.1", port=8765, *, open_browser=True, max_runs=8, idle_timeout=600.0,
          log=print) -> int:
    """Run the playground until Ctrl-C; returns 0. ``port=0`` takes a free port. The line
    ``gdlab playground: http://HOST:PORT/`` is printed once the port is bound."""
    import numpy  # noqa: F401 - loaded first: threadpoolctl limits the BLAS libraries it finds
    import uvicorn
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # one BLAS thread in the whole process: reproducible, shareable runs
    loopback = is_loopback(host)
    if not loopback:
        print(f"gdlab playground: warning: listening on {host}, so other machines can reach "
              "this server and start runs on it; it has no authentication. Use --host "
              "127.0.0.1 to keep it to this machine.", file=sys.stderr, flush=True)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the queue until uvicorn serves them
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    port = sock.getsockname()[1]
    shown = host if loopback else "127.0.0.1"
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    manager = RunManager(max_active=max_runs, idle_timeout=idle_timeout)
    app = create_app(manager, allowed_hosts=(*LOOPBACK_NAMES, host) if loopback else None)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on",
                                           timeout_graceful_shutdown=2))
    log(f"gdlab playground: {url}  (Ctrl-C to stop)")
    sys.stdout.flush()
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server.run(sockets=[sock])
    return 0
