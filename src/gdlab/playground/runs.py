"""Runs that train in their own threads, and the manager that keeps them bounded.

A :class:`Run` trains one :class:`~gdlab.playground.experiment.Experiment` in a thread of its
own. Other threads (the web server's) control it only through its
:class:`~gdlab.playground.control.RunControl`, a callback of the trainer that the training
thread passes at every step boundary, so pausing, stepping and stopping are safe at any moment,
and the history, which only the training thread writes, is the one the same configuration
gives in one thread.

For the page, the training thread copies the parameters (a few hundred numbers) at most
:data:`~gdlab.playground.control.FRAME_RATE` times a second, at every park and at the end, and
while a page watches it also predicts the decision boundary from that copy, on a clone of the
network (a fraction of a millisecond), so that the threads that serve the page do no NumPy work
that would pass the GIL back and forth with the training. A boundary asked for when none is
drawn (nobody watching, or the run parked) is drawn by the reader from the latest copy.
Throttling applies to these frames, never to the training."""

from __future__ import annotations

import math
import secrets
import sys
import threading
import time
import traceback

from gdlab.errors import DivergenceError
from gdlab.playground.config import ConfigError
from gdlab.playground.control import CONTROL_TIMEOUT, Lockstep, RunControl
from gdlab.playground.experiment import (
    build_experiment,
    divergence_record,
    grid_to_json,
    predict_grid,
)


class Run:
    """One configuration training in its own thread, with its status, history and frames.

    ``status`` is ``"running"``, ``"paused"``, ``"done"`` (``max_steps`` reached),
    ``"diverged"`` or ``"stopped"`` (``stopped_because``: ``"requested"``, ``"idle"``,
    ``"shutdown"`` or ``"error"``).
    """

    def __init__(self, config, *, paused=False, run_id=None, lockstep: Lockstep | None = None):
        self.control = RunControl(paused, on_frame=self._take_snapshot, lockstep=lockstep)
        #: what the controls act on: this run, or every run in lockstep with it
        self.controls = self.control if lockstep is None else lockstep
        #: this run and the runs it is compared with, in their order
        self.group: list[Run] = [self]
        self.experiment = build_experiment(config, callbacks=[self.control])
        self.config = self.experiment.config
        self.id = run_id or secrets.token_hex(4)
        self._lock = threading.Lock()
        self._snapshot = (0, 0, None, 0.0)   # version, step, state, when
        self._speed = (0.0, 0, 0.0)          # steps per second, at step, active seconds
        self._started = time.monotonic()
        self._view = self.experiment.net.clone()
        self._view_lock = threading.Lock()
        self._drawn = (None, None, None)     # version, step, grid
        self._extent = self.experiment.data.extent()
        self._asked = -math.inf              # when a boundary was last asked for
        self._final = None                   # (status, stopped_because) once ended
        self.diverged = self.error = None
        self._stop_reason = "requested"
        self.touched = time.monotonic()
        self.watchers = 0
        self._thread = threading.Thread(target=self._main, name=f"gdlab-run-{self.id}",
                                        daemon=True)

    def start(self) -> Run:
        self._thread.start()
        return self

    # ---- the training thread -------------------------------------------------------------------
    def _main(self):
        final = ("stopped", "error")
        try:
            result = self.experiment.run()
            done = result.stopped_because == "max_steps"
            final = ("done", "max_steps") if done else ("stopped", self._stop_reason)
        except KeyboardInterrupt:  # stopped while parked before the first step
            final = ("stopped", self._stop_reason)
        except DivergenceError as exc:
            self.diverged = divergence_record(exc)
            final = ("diverged", "diverged")
        except Exception as exc:  # a bug must not take the server down: say it and stop
            self.error = f"{type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
        finally:
            # the last frame first: whoever sees the run ended also finds its final state
            self._take_snapshot(self.experiment.trainer)
            self._final = final
            self.control.finish()

    def _take_snapshot(self, trainer):
        net, now, step = trainer.net, time.monotonic(), trainer.step
        state = {"params": net.flat_parameters.copy(),
                 "buffers": {k: v.copy() for k, v in net.buffers().items()}}
        # drawn here, while watched: see the module docstring
        grid = self._predict(state) if self.watchers or now - self._asked < 2.0 else None
        active = now - self._started - self.control.parked_seconds
        with self._lock:
            version = self._snapshot[0] + 1
            rate, step0, active0 = self._speed
            if active - active0 >= 0.25:
                rate = (step - step0) / (active - active0)
                self._speed = (rate, step, active)
            self._snapshot = (version, step, state, now)
            if grid is not None:
                self._drawn = (version, step, grid)

    def _predict(self, state):
        """The grid of the clone with ``state`` (None, before the first snapshot: the clone
        still holds the initial network)."""
        with self._view_lock:
            if state is not None:
                self._view.load_state_dict(state)
            return predict_grid(self._view, self.experiment.data.task, self._extent)

    # ---- what other threads read -----------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self._final is not None

    @property
    def status(self) -> str:
        if self._final is not None:
            return self._final[0]
        return "paused" if self.control.paused else "running"

    def summary(self) -> dict:
        """Where the run stands: id, status, step, epoch, speed, rate, why it stopped."""
        final, trainer = self._final, self.experiment.trainer
        return {
            "id": self.id, "status": self.status, "step": trainer.step, "epoch": trainer.epoch,
            "max_steps": self.config["max_steps"], "steps_per_second": round(self._speed[0], 1),
            "pace": self.control.pace, "lr": float(trainer.optimizer.lr),
            "stopped_because": final[1] if final else None, "diverged": self.diverged,
            "error": self.error, "task": self.experiment.data.task,
            "compare_with": [r.id for r in self.group if r is not self] or None,
        }

    def info(self, since=0) -> dict:
        """The run as ``GET /api/runs/{id}`` gives it: :meth:`summary`, the configuration and
        the history from entry ``since`` on."""
        history = self.experiment.recorder.history
        return {**self.summary(), "config": self.config, "history_start": since,
                "history": history[since:]}

    def history_since(self, since: int) -> list[dict]:
        return self.experiment.recorder.history[since:]

    def data(self) -> dict:
        """The points the run trains and validates on, and the box the page draws."""
        d = self.experiment.data
        flat = (lambda y: y.tolist()) if d.task == "classification" else (
            lambda y: y[:, 0].tolist())
        return {"dataset": d.name, "task": d.task, "extent": d.extent(),
                "X": d.X.tolist(), "y": flat(d.y), "X_val": d.X_val.tolist(),
                "y_val": flat(d.y_val)}

    def boundary(self, compact=False) -> dict:
        """The prediction over the page's box at the latest snapshot: ``{"step", "extent",
        "task"}`` and the grid or curve of :func:`~gdlab.playground.experiment.grid_to_json`."""
        self._asked = time.monotonic()
        version, step, state, _ = self._snapshot
        drawn = self._drawn
        if drawn[0] != version:
            grid = self._predict(state)
            drawn = (version, step, grid)
            with self._lock:
                if self._snapshot[0] == version:
                    self._drawn = drawn
        return {"step": drawn[1], "extent": self._extent, "task": self.experiment.data.task,
                **grid_to_json(drawn[2], compact)}

    @property
    def snapshot_version(self) -> int:
        return self._snapshot[0]

    # ---- control -------------------------------------------------------------------------------
    def stop(self, reason="requested", timeout=CONTROL_TIMEOUT) -> None:
        if not self.finished:
            self._stop_reason = reason
            self.control.stop()
        self.join(timeout)

    def join(self, timeout=None) -> None:
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def touch(self) -> None:
        self.touched = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since anyone asked about this run (0 while a page watches it)."""
        return 0.0 if self.watchers else time.monotonic() - self.touched

    def watch(self, delta: int) -> None:
        with self._lock:
            self.watchers += delta
        self.touch()


#: the names of the runs compared side by side, in order
SIDES = ("a", "b")


class TooManyRuns(RuntimeError):
    """Every slot for an active (running or paused) run is taken."""


class RunManager:
    """The server's runs: at most ``max_active`` running or paused at once, at most
    ``max_kept`` remembered (the oldest ended ones are forgotten first), and every active run
    that nobody has asked about or watched for ``idle_timeout`` seconds stopped."""

    def __init__(self, *, max_active=8, max_kept=32, idle_timeout=600.0):
        self.max_active, self.max_kept = int(max_active), int(max_kept)
        self.idle_timeout = float(idle_timeout)
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self.closing = False

    def create(self, config, *, paused=False) -> Run:
        """Check ``config``, build its run and start its thread (parked at step 0 when
        ``paused``). ConfigError for a bad configuration, TooManyRuns when full."""
        self.reap_idle()
        run = Run(config, paused=paused)   # built (and checked) before taking a slot
        self._admit([run])
        return run.start()

    def create_group(self, configs, *, paused=False) -> list[Run]:
        """Runs of ``configs`` that train in lockstep (compare mode: step for step, controlled
        as one, see :class:`~gdlab.playground.control.Lockstep`), started together. A
        ConfigError for a bad configuration names its place: ``field`` ``"b.lr"``."""
        self.reap_idle()
        lockstep, runs = Lockstep(), []
        for side, config in zip(SIDES, configs):
            try:
                runs.append(Run(config, paused=paused, lockstep=lockstep))
            except ConfigError as exc:
                field = f"{side}.{exc.field}" if exc.field else side
                raise ConfigError(field, f"{side}: {exc}") from None
        for run in runs:
            run.group = runs
        self._admit(runs)
        for run in runs:
            run.start()
        return runs

    def _admit(self, runs) -> None:
        """Give ``runs`` ids and slots (TooManyRuns when there are too few), forgetting the
        oldest ended runs beyond ``max_kept``."""
        with self._lock:
            active = [r for r in self._runs.values() if not r.finished]
            if len(active) + len(runs) > self.max_active:
                more = "" if len(runs) == 1 else f" and {len(runs)} more would pass"
                raise TooManyRuns(f"{len(active)} runs are active{more}, the most this server "
                                  f"keeps at once (--max-runs {self.max_active}); stop one "
                                  "first")
            for run in runs:
                while run.id in self._runs:
                    run.id = secrets.token_hex(4)
                self._runs[run.id] = run
            ended = [r for r in self._runs.values() if r.finished]
            for old in sorted(ended, key=lambda r: r.touched)[:max(0, len(self._runs) -
                                                                       self.max_kept)]:
                del self._runs[old.id]

    def get(self, run_id) -> Run:
        """The run ``run_id`` (a KeyError saying so when there is none), marked as asked about."""
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            raise KeyError(f"no run {run_id!r} (runs that ended are forgotten after "
                           f"{self.max_kept} more)")
        run.touch()
        return run

    def runs(self) -> list[Run]:
        with self._lock:
            return list(self._runs.values())

    def reap_idle(self) -> list[str]:
        """Stop the active runs idle for longer than ``idle_timeout``; returns their ids."""
        idle = [r for r in self.runs() if not r.finished and r.idle_for() > self.idle_timeout]
        for run in idle:
            run.stop("idle")
        return [r.id for r in idle]

    def shutdown(self, timeout=5.0) -> None:
        """Stop every run (the server is going away)."""
        self.closing = True
        runs = [r for r in self.runs() if not r.finished]
        for run in runs:
            run.stop("shutdown", timeout=0)
        deadline = time.monotonic() + timeout
        for run in runs:
            run.join(max(0.0, deadline - time.monotonic()))
