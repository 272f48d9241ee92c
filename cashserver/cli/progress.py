"""What a long command shows on a terminal: one line as each piece of work ends, a bar
below them, and the log's warnings above the bar rather than through it."""

from __future__ import annotations

import io
import sys
import threading
from typing import TextIO, cast

from cashserver.log import log_to

BAR_WIDTH = 30


class Progress:
    """``total`` steps: :meth:`step` as each ends (from any thread), with a line to
    print or None; on a terminal (``bar``) a bar below the lines. ``quiet`` prints
    nothing (the command prints one JSON document at the end)."""

    def __init__(self, total: int, out: TextIO, bar: bool, quiet: bool = False) -> None:
        self.total = total
        self.done = 0
        self.out = out
        self.bar = bar and not quiet
        self.quiet = quiet
        self._lock = threading.RLock()

    def start(self) -> None:
        """Draw the bar, and print log lines above it from now on until :meth:`close`."""
        if self.bar:
            log_to(cast(TextIO, _AboveTheBar(self, sys.stderr)))
            self.draw()

    def draw(self) -> None:
        if self.bar:
            filled = BAR_WIDTH * self.done // max(self.total, 1)
            with self._lock:
                self.out.write(
                    f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.done}/{self.total}"
                )
                self.out.flush()

    def line(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self.out.write(("\r\033[K" if self.bar else "") + text + "\n")
            self.draw()

    def above(self, stream: TextIO, text: str) -> None:
        """Write ``text`` on ``stream`` (standard error) where the bar was, then the bar."""
        with self._lock:
            if self.bar:
                self.out.write("\r\033[K")
                self.out.flush()
            stream.write(text)
            stream.flush()
            if text.endswith("\n"):
                self.draw()

    def step(self, text: str | None = None) -> None:
        with self._lock:
            self.done += 1
            if text is None:
                self.draw()
            else:
                self.line(text)

    def close(self) -> None:
        """Clear the bar; the log goes straight to standard error again."""
        if self.bar:
            log_to(None)
            with self._lock:
                self.out.write("\r\033[K")
                self.out.flush()


class _AboveTheBar(io.TextIOBase):
    """Standard error for the log while the bar is drawn: each line goes above it."""

    def __init__(self, progress: Progress, stream: TextIO) -> None:
        self.progress = progress
        self.stream = stream

    def write(self, text: str) -> int:
        self.progress.above(self.stream, text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()
