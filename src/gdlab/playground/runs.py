"""Runs that train in their own threads, and the manager that keeps them bounded.

A :class:`Run` trains one :class:`~gdlab.playground.experiment.Experiment` in a thread of its
own. Other threads (the web server's) control it only through its :class:`RunControl`, a
callback of the trainer that the training thread passes at every step boundary: there it
parks while the run is paused (``threading.Condition``), lets exactly one step through for
"step once", keeps a chosen pace, and raises ``KeyboardInterrupt`` to stop, which the trainer
turns into ``stopped_because == "interrupted"``. Nothing else reaches into a running trainer,
so pausing, stepping and stopping are safe at any moment, and the history, which only the
training thread writes, is the one the same configuration gives in one thread.

For the page, the training thread copies the parameters (a few hundred numbers) at most
:data:`FRAME_RATE` times a second, at every park and at the end; the decision boundary is then
drawn from that copy on a clone of the network, in the reader's thread, never touching the
network that trains. Throttling applies to these frames, never to the training.
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
import traceback

from gdlab.errors import DivergenceError
from gdlab.playground.experiment import build_experiment, divergence_record, predict_grid

#: the most parameter snapshots per second the training thread takes for the page
FRAME_RATE = 30.0

#: how long a control request waits for the training thread to reach a step boundary
CONTROL_TIMEOUT = 10.0


class RunControl:
    """Pause, step once, resume, pace and stop a training thread from other threads.

    A trainer callback: its hooks run in the training thread between steps; its other methods
    are for other threads. ``on_frame(trainer)``, if given, is called in the training thread at
    most ``FRAME_RATE`` times a second and whenever the run parks.
    """

    def __init__(self, paused=False, on_frame=None):
        self._cond = threading.Condition()
        self._paused, self._credits, self._stop = bool(paused), 0, False
        self._pace, self._due = None, 0.0
        self._parked, self._parks, self._finished = False, 0, False
        self._attention = self._paused  # read without the lock at every step: cheap
        self._on_frame = on_frame
        self._next_frame = 0.0
        self.parked_seconds = 0.0

    # ---- the training thread's side --------------------------------------------------------
    def on_train_begin(self, trainer, logs):
        self._frame(trainer, time.monotonic())
        self._gate(trainer)

    def on_step_end(self, trainer, logs):
        now = time.monotonic()
        if now >= self._next_frame:
            self._frame(trainer, now)
        if self._attention:
            self._gate(trainer)

    def _frame(self, trainer, now):
        self._next_frame = now + 1.0 / FRAME_RATE
        if self._on_frame is not None:
            self._on_frame(trainer)

    def _gate(self, trainer):
        """Park while paused (one step through per credit), keep the pace, or stop."""
        with self._cond:
            while True:
                if self._stop:
                    raise KeyboardInterrupt
                if self._paused and self._credits == 0:
                    self._park(trainer)
                    continue
                if self._paused:
                    self._credits -= 1
                    return
                delay = self._due - time.monotonic() if self._pace else 0.0
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                if self._pace:
                    self._due = max(self._due, time.monotonic() - 0.1) + 1.0 / self._pace
                return

    def _park(self, trainer):
        if not self._parked:
            self._parked = True
            self._parks += 1
            if self._on_frame is not None:
                self._on_frame(trainer)
            self._cond.notify_all()
        start = time.monotonic()
        self._cond.wait()
        self.parked_seconds += time.monotonic() - start
        if not (self._paused and self._credits == 0) or self._stop:
            self._parked = False

    def finish(self):
        """Called by the training thread when it ends: wakes every waiting controller."""
        with self._cond:
            self._finished, self._parked = True, False
            self._cond.notify_all()

    # ---- the controllers' side -----------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def pace(self):
        """Steps per second the run keeps (None: as fast as it can)."""
        return self._pace

    def pause(self, timeout=CONTROL_TIMEOUT) -> None:
        """Pause and wait until the training thread is parked at a step boundary (or ended)."""
        with self._cond:
            self._paused = self._attention = True
            self._credits = 0
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._parked or self._finished, timeout)

    def resume(self) -> None:
        with self._cond:
            self._paused, self._credits = False, 0
            self._due = time.monotonic()
            self._attention = self._stop or self._pace is not None
            self._cond.notify_all()

    def step(self, timeout=CONTROL_TIMEOUT) -> bool:
        """Let exactly one step through a paused run and wait until it is parked again;
        False (and nothing done) when the run is not paused."""
        with self._cond:
            if not self._paused or self._finished:
                return False
            parks = self._parks
            self._credits += 1
            self._parked = False
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._finished or (
                self._parked and self._credits == 0 and self._parks > parks), timeout)
            return True

    def set_pace(self, steps_per_second) -> None:
        """Keep at most ``steps_per_second`` (None: no limit). It changes when steps happen,
        never what they compute."""
        with self._cond:
            self._pace = None if steps_per_second is None else float(steps_per_second)
            self._due = time.monotonic()
            self._attention = self._paused or self._stop or self._pace is not None
            self._cond.notify_all()

    def stop(self) -> None:
        """Ask the training thread to stop at its next step boundary."""
        with self._cond:
            self._stop = self._attention = True
            self._cond.notify_all()


class Run:
    """One configuration training in its own thread, with its status, history and frames.

    ``status`` is ``"running"``, ``"paused"``, ``"done"`` (``max_steps`` reached),
    ``"diverged"`` or ``"stopped"`` (``stopped_because``: ``"requested"``, ``"idle"``,
    ``"shutdown"`` or ``"error"``).
    """

    def __init__(self, config, *, paused=False, run_id=None):
        self.control = RunControl(paused, on_frame=self._take_snapshot)
        self.experiment = build_experiment(config, callbacks=[self.control])
        self.config = self.experiment.config
        self.id = run_id or secrets.token_hex(4)
        self._lock = threading.Lock()
        self._snapshot = (0, 0, None, 0.0)   # version, step, state, when
        self._speed = (0.0, 0, 0.0)          # steps per second, at step, active seconds
        self._started = time.monotonic()
        self._view = self.experiment.net.clone()
        self._view_lock = threading.Lock()
        self._drawn = (None, None)           # version, grid
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
        net, now = trainer.net, time.monotonic()
        state = {"params": net.flat_parameters.copy(),
                 "buffers": {k: v.copy() for k, v in net.buffers().items()}}
        active = now - self._started - self.control.parked_seconds
        with self._lock:
            version = self._snapshot[0] + 1
            rate, step0, active0 = self._speed
            if active - active0 >= 0.25:
                rate = (trainer.step - step0) / (active - active0)
                self._speed = (rate, trainer.step, active)
            self._snapshot = (version, trainer.step, state, now)

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

    def boundary(self) -> dict:
        """The prediction over the page's box at the latest snapshot (cached per snapshot)."""
        with self._view_lock:
            version, step, state, _ = self._snapshot
            if self._drawn[0] != version:
                if state is not None:
                    self._view.load_state_dict(state)
                grid = predict_grid(self._view, self.experiment.data.task,
                                    self.experiment.data.extent())
                self._drawn = (version, {"step": step, "extent": self.experiment.data.extent(),
                                         "task": self.experiment.data.task, **grid})
            return self._drawn[1]

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


class TooManyRuns(RuntimeError):
    """Every slot for an active (running or paused) run is taken."""


class RunManager:
    """The server's runs: at most ``max_active`` running or paused at once, at most
    ``max_kept`` remembered (the oldest ended ones are forgotten first), and every active run
    that nobody has asked about or watched for ``idle_timeout`` seconds stopped."""

    def __init__(self, *, max_active=8, max_kept=64, idle_timeout=600.0):
        self.max_active, self.max_kept = int(max_active), int(max_kept)
        self.idle_timeout = float(idle_timeout)
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self.closing = False

    def create(self, config, *, paused=False) -> Run:
        """Check ``config``, build its run and start its thread (parked at step 0 when
        ``paused``). ConfigError for a bad configuration, TooManyRuns when full."""
        self.reap_idle()
        with self._lock:
            active = [r for r in self._runs.values() if not r.finished]
            if len(active) >= self.max_active:
                raise TooManyRuns(f"{len(active)} runs are active, the most this server keeps "
                                  f"at once (--max-runs {self.max_active}); stop one first")
        run = Run(config, paused=paused)
        with self._lock:
            while run.id in self._runs:
                run.id = secrets.token_hex(4)
            self._runs[run.id] = run
            ended = [r for r in self._runs.values() if r.finished]
            for old in sorted(ended, key=lambda r: r.touched)[:max(0, len(self._runs) -
                                                                       self.max_kept)]:
                del self._runs[old.id]
        return run.start()

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
