"""Pause, step once, resume, pace and stop a training thread from other threads.

:class:`RunControl` is a trainer callback. Its hooks run in the training thread at every step
boundary (and before the first step): there the thread parks on a ``threading.Condition``
while the run is paused, lets exactly one step through for each "step once", keeps a chosen
pace, or raises ``KeyboardInterrupt`` to stop, which :class:`gdlab.Trainer` turns into
``stopped_because == "interrupted"``. Its other methods are for the threads that control the
run: each changes a flag under the condition and, where it promises a state (paused, one step
further), waits until the training thread has reached it. Nothing else reaches into a running
trainer, so every control is safe at any moment and changes when steps happen, never what
they compute.

:class:`Lockstep` ties several runs together (compare mode): none starts a step before the
others have finished the one before, so that side by side they show the same step, and they
pause, step once, resume, pace and stop as one.
"""

from __future__ import annotations

import threading
import time

#: the most times a second the training thread calls ``on_frame`` (parameter snapshots for
#: the page)
FRAME_RATE = 20.0

#: how long a control request waits for the training thread to reach a step boundary
CONTROL_TIMEOUT = 10.0


class RunControl:
    """Pause, step once, resume, pace and stop a training thread from other threads.

    A trainer callback: its hooks run in the training thread between steps; its other methods
    are for other threads. ``on_frame(trainer)``, if given, is called in the training thread at
    most ``FRAME_RATE`` times a second and whenever the run parks.
    """

    def __init__(self, paused=False, on_frame=None, lockstep: Lockstep | None = None):
        self._lockstep = lockstep
        self._cond = threading.Condition() if lockstep is None else lockstep.cond
        self._paused, self._credits, self._stop = bool(paused), 0, False
        self._pace, self._due = None, 0.0
        self._parked, self._parks, self._finished = False, 0, False
        # read without the lock at every step: cheap
        self._attention = self._paused or lockstep is not None
        self._on_frame = on_frame
        self._next_frame = 0.0
        self.parked_seconds = 0.0
        self.at_step = 0   # the step boundary the training thread reached last
        if lockstep is not None:
            lockstep.add(self)

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
        """Park while paused (one step through per credit), wait for the runs in lockstep
        with this one, keep the pace, or stop."""
        with self._cond:
            self.at_step = trainer.step
            lock = self._lockstep
            if lock is not None:
                self._cond.notify_all()  # a run in lockstep may be waiting for this step
            while True:
                if self._stop:
                    raise KeyboardInterrupt
                behind = lock is not None and lock.behind(self)
                if self._paused and self._credits == 0 and not behind:
                    self._park(trainer)
                    continue
                if lock is not None and lock.ahead(self):
                    self._cond.wait()
                    continue
                if self._paused:  # a step once, or (without one) catching up with the others
                    self._credits -= 1 if self._credits else 0
                    self._parked = False
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

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def held(self) -> bool:
        """Parked at a step boundary (in lockstep: at the others' step), or ended."""
        return self._finished or self._at_rest()

    def _at_rest(self) -> bool:
        return self._parked and not (self._lockstep is not None and self._lockstep.behind(self))

    def pause(self, timeout=CONTROL_TIMEOUT) -> None:
        """Pause and wait until the training thread is parked at a step boundary (or ended)."""
        with self._cond:
            self.request_pause()
            self._cond.wait_for(lambda: self.held, timeout)

    def request_pause(self) -> None:
        """Pause at the next step boundary, without waiting for it."""
        with self._cond:
            self._paused = self._attention = True
            self._credits = 0
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused, self._credits = False, 0
            self._due = time.monotonic()
            self._attention = self._stop or self._pace is not None or self._lockstep is not None
            self._cond.notify_all()

    def step(self, timeout=CONTROL_TIMEOUT) -> bool:
        """Let exactly one step through a paused run and wait until it is parked again;
        False (and nothing done) when the run is not paused."""
        with self._cond:
            token = self.request_step()
            if token is None:
                return False
            self._cond.wait_for(lambda: self.stepped(token), timeout)
            return True

    def request_step(self):
        """Let one step through a paused run without waiting for it; a token for
        :meth:`stepped`, or None (and nothing done) when the run is not paused."""
        with self._cond:
            if not self._paused or self._finished:
                return None
            self._credits += 1
            self._parked = False
            self._cond.notify_all()
            return self._parks

    def stepped(self, token) -> bool:
        """Whether the step that :meth:`request_step` let through (``token``) is taken and the
        run parked again (or ended)."""
        return self._finished or (self._at_rest() and self._credits == 0 and self._parks > token)

    def set_pace(self, steps_per_second) -> None:
        """Keep at most ``steps_per_second`` (None: no limit). It changes when steps happen,
        never what they compute."""
        with self._cond:
            self._pace = None if steps_per_second is None else float(steps_per_second)
            self._due = time.monotonic()
            self._attention = (self._paused or self._stop or self._pace is not None
                               or self._lockstep is not None)
            self._cond.notify_all()

    def stop(self) -> None:
        """Ask the training thread to stop at its next step boundary."""
        with self._cond:
            self._stop = self._attention = True
            self._cond.notify_all()


class Lockstep:
    """Runs that take their steps together (compare mode), and their controls as one.

    Each run's :class:`RunControl` is built with ``lockstep=`` this object and shares its
    condition. A training thread that has finished a step waits there until every other run
    that has not ended has finished it too, so the runs are never more than the step they are
    taking apart; paused, each parks only once it has caught up with the others, so a paused
    group shows one step. A run that ends (done, diverged, stopped) no longer holds the others.
    :meth:`pause`, :meth:`resume`, :meth:`step`, :meth:`set_pace` and :meth:`stop` act on every
    run of the group at once, with the same meaning as RunControl's.
    """

    def __init__(self):
        self.cond = threading.Condition()
        self.members: list[RunControl] = []

    def add(self, control: RunControl) -> None:
        with self.cond:
            self.members.append(control)

    def _others(self, control):
        return [m for m in self.members if m is not control and not m.finished]

    def behind(self, control) -> bool:
        """Whether another run that has not ended is further than ``control``'s."""
        return any(m.at_step > control.at_step for m in self._others(control))

    def ahead(self, control) -> bool:
        """Whether another run that has not ended has not yet reached ``control``'s step."""
        return any(m.at_step < control.at_step for m in self._others(control))

    @property
    def paused(self) -> bool:
        return all(m.paused for m in self.members if not m.finished)

    def pause(self, timeout=CONTROL_TIMEOUT) -> None:
        """Pause every run and wait until each is parked (at one step) or ended."""
        with self.cond:
            for m in self.members:
                m.request_pause()
            self.cond.wait_for(lambda: all(m.held for m in self.members), timeout)

    def resume(self) -> None:
        with self.cond:
            for m in self.members:
                m.resume()

    def step(self, timeout=CONTROL_TIMEOUT) -> bool:
        """One step for every paused run, and wait until each is parked again; False (and
        nothing done) when none is paused."""
        with self.cond:
            tokens = [(m, m.request_step()) for m in self.members]
            tokens = [(m, t) for m, t in tokens if t is not None]
            if not tokens:
                return False
            self.cond.wait_for(lambda: all(m.stepped(t) for m, t in tokens), timeout)
            return True

    def set_pace(self, steps_per_second) -> None:
        with self.cond:
            for m in self.members:
                m.set_pace(steps_per_second)

    def stop(self) -> None:
        with self.cond:
            for m in self.members:
                m.stop()
