"""Benchmark 5's measure: the resident memory that a call adds above the process's memory before it.

The resident set size (RSS) is sampled every millisecond by a thread while the call runs; the
peak over the samples and the kernel's own high-water mark (``ru_maxrss``, which misses nothing
but only counts if it grew during the call) give the peak. Memory is counted the same way for
every rival, whatever allocator it uses (tracemalloc would miss PyTorch's).
"""

from __future__ import annotations

import gc
import os
import resource
import threading
import time

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def fit_memory(call, period=0.001):
    """{"rss_before_mb", "peak_added_mb", "seconds"} for one ``call()``."""
    gc.collect()
    before = rss_bytes()
    max_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(period)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    try:
        call()
    finally:
        seconds = time.perf_counter() - t0
        done.set()
        sampler.join()
    max_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    top = max(peak[0], rss_bytes())
    if max_after > max_before:  # the high-water mark rose during the call: it is exact
        top = max(top, max_after)
    return {"rss_before_mb": before / 2**20, "peak_added_mb": (top - before) / 2**20,
            "seconds": seconds}
