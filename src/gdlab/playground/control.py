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
