"""Process tuning for the daemon's processes: the garbage collector and glibc's arenas.

Both are set once per process, at start, and both exist for measured reasons
(see the README's speed section); nothing here changes behaviour, only speed
and resident memory.
"""

from __future__ import annotations

import ctypes
import gc

YOUNG_GC_EVERY_TICKS = 10
FULL_GC_EVERY_TICKS = 60
M_ARENA_MAX = -8  # glibc's mallopt parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024
"""Blocks this big or bigger get their own mapping, given back to the kernel on free."""


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Ask glibc for few malloc arenas: with a thread per register it would make up
    to eight per core, and the daemon's resident memory grows by tens of megabytes.

    And keep glibc's mmap threshold at its initial 128 KiB: by default glibc raises
    it to the size of each big block freed, so after the first frames (a protocol 3
    frame of 1,000 receipts is 530 KB; a Thrift connection waiting for its upload
    turn holds one) all of them come from the heap, which they fragment and which
    is not given back. Held at 128 KiB, each is its own mapping, unmapped when
    freed: the peak under 32 registers is about 10 MB lower on protocol 3 (4 on
    protocol 4) at the same speed (measured, see the README).

    Must run before the threads start; does nothing where glibc is not the libc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass


def manual_gc() -> None:
    """Collect garbage on the daemon's tick instead of on allocation counts.

    An upload makes tens of thousands of small objects that the loader holds for
    a moment; Python's automatic collector, triggered by allocation counts, then
    walks them again and again and took half the loader's time. Objects made at
    start-up are frozen out of the collector's sight, the automatic collector is
    off, and :func:`collect_on_tick` collects the young generations every 10
    seconds and everything every minute (cycles are rare here: reference
    counting frees nearly everything at once).
    """
    gc.freeze()
    gc.disable()


def collect_on_tick(tick: int) -> None:
    """The collection due at the ``tick``-th one-second tick of a process's main loop."""
    if tick % YOUNG_GC_EVERY_TICKS == 0:
        gc.collect(2 if tick % FULL_GC_EVERY_TICKS == 0 else 1)
