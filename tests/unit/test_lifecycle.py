"""The lifecycle pieces: stop flags, the one grace deadline, stages, the systemd notifier."""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from cashserver.lifecycle import OVERRUN_S, Deadline, Stage, Stages, StopFlags
from cashserver.systemd import Notifier


def wait(event: threading.Event) -> None:
    event.wait(30)


def test_the_first_signal_asks_for_a_graceful_stop_and_the_second_forces_it() -> None:
    flags = StopFlags()
    flags.handle(signal.SIGTERM, None)
    assert (flags.should_exit, flags.force_exit) == (True, False)
    flags.handle(signal.SIGINT, None)
    assert (flags.should_exit, flags.force_exit) == (True, True)
    assert flags.signals == [signal.SIGTERM, signal.SIGINT]


def test_a_forced_deadline_has_no_time_left() -> None:
    flags = StopFlags()
    deadline = Deadline.after(30.0, forced=lambda: flags.force_exit)
    assert 29.0 < deadline.remaining() <= 30.0
    flags.force_exit = True
    assert deadline.remaining() == 0.0 and deadline.passed
    assert deadline.wait_for(lambda: False) is False


def test_stages_start_in_order_and_stop_in_reverse_with_one_deadline() -> None:
    events: list[tuple[str, float]] = []

    def stage(name: str) -> Stage:
        def start() -> None:
            events.append((f"start {name}", 0.0))

        def stop(deadline: Deadline) -> None:
            events.append((f"stop {name}", deadline.remaining()))

        return Stage(name, start, stop)

    stages = Stages([stage(name) for name in ("store", "loader", "listener")])
    stages.start()
    deadline = Deadline.after(10.0)
    stages.stop(deadline)
    assert [e for e, _ in events] == [
        "start store",
        "start loader",
        "start listener",
        "stop listener",
        "stop loader",
        "stop store",
    ]
    assert all(0 < left <= 10.0 for e, left in events if e.startswith("stop"))
    assert stages.started == []


def test_a_stage_that_fails_to_start_leaves_the_earlier_ones_to_stop() -> None:
    stopped: list[str] = []

    def fail() -> None:
        raise OSError("port taken")

    stages = Stages(
        [
            Stage("store", lambda: None, lambda _d: stopped.append("store")),
            Stage("listener", fail, lambda _d: stopped.append("listener")),
        ]
    )
    with pytest.raises(OSError):
        stages.start()
    stages.stop(Deadline.after(1.0))
    assert stopped == ["store"]


def test_a_stage_that_blocks_past_the_deadline_does_not_hold_the_stop() -> None:
    release = threading.Event()
    stopped: list[str] = []
    stages = Stages(
        [
            Stage("store", lambda: None, lambda _d: stopped.append("store")),
            Stage("stuck", lambda: None, lambda _d: wait(release)),
        ]
    )
    stages.start()
    started = time.monotonic()
    stages.stop(Deadline.after(0.2))
    elapsed = time.monotonic() - started
    release.set()
    assert stopped == ["store"]
    assert elapsed < 0.2 + OVERRUN_S + 1.0


def test_a_second_signal_ends_a_stop_that_waits() -> None:
    flags = StopFlags()
    release = threading.Event()
    stages = Stages([Stage("waits", lambda: None, lambda _d: wait(release))])
    stages.start()
    threading.Timer(0.2, flags.handle, args=(signal.SIGTERM, None)).start()
    threading.Timer(0.3, flags.handle, args=(signal.SIGTERM, None)).start()
    started = time.monotonic()
    stages.stop(Deadline.after(30.0, forced=lambda: flags.force_exit))
    release.set()
    assert time.monotonic() - started < 0.3 + OVERRUN_S + 1.0


def test_the_notifier_sends_states_to_the_socket_systemd_names(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        notifier = Notifier({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "60000000"})
        notifier.ready()
        notifier.watchdog()
        notifier.stopping()
        assert [sock.recv(100) for _ in range(3)] == [b"READY=1", b"WATCHDOG=1", b"STOPPING=1"]


def test_without_systemd_the_notifier_does_nothing() -> None:
    notifier = Notifier({})
    notifier.ready()
    notifier.watchdog()
    assert notifier.address == "" and not notifier.watchdog_enabled
