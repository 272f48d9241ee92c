"""The writer's door for the command line while a daemon runs.

The writer is the one writer of the ``registers`` table at run time. A command
that changes it (``registers add|set|remove``, the loading states of a
``cashserver pull`` that hands its shifts to the daemon) does not write beside
a running daemon: it asks the daemon's writer over this door, and writes itself
only when no daemon runs (it holds the data folder's lock then, see
:mod:`cashserver.serve_lock`), as ``cashserver pull`` loads by itself only then.

The door is a Unix socket in the abstract namespace, named after the data folder
(no file to leave behind, and no path-length limit from a deep data folder),
spoken with :mod:`multiprocessing.connection`: one request a connection, one
answer, each a msgspec struct in MessagePack. Only a peer of the daemon's own
user (or root) is answered, checked by the kernel's peer credentials.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import threading
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Literal

import msgspec

from cashserver.log import get_logger
from cashserver.pull.states import StateBuffer, StateRow
from cashserver.store.registers import Registers

log = get_logger(__name__)

ANSWER_TIMEOUT_S = 30.0
ACCEPT_POLL_S = 0.2


class ChangeRegister(msgspec.Struct, tag=True, frozen=True):
    """``registers add|set|remove``: ``fields`` are the directory fields to give."""

    action: Literal["add", "set", "remove"]
    store_code: str
    register_code: str
    fields: dict[str, str | int | None] = {}


class SetStates(msgspec.Struct, tag=True, frozen=True):
    """Loading states of a pull run by the command line."""

    rows: list[StateRow]


Request = ChangeRegister | SetStates


class Answer(msgspec.Struct, frozen=True):
    done: bool
    """False: the register exists (add) or is not in the directory (set, remove)."""


_requests = msgspec.msgpack.Decoder(Request)
_answers = msgspec.msgpack.Decoder(Answer)


def address(data_dir: Path) -> str:
    """The door's abstract socket name for a data folder."""
    digest = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:24]
    return f"\0cashserver-writer-{digest}"


def apply_change(registers: Registers, change: ChangeRegister) -> bool:
    """Make ``change`` in the directory; False when it does not apply (see :class:`Answer`)."""
    key = (change.store_code, change.register_code)
    if change.action == "add":
        return registers.add_entry(*key, change.fields)
    if change.action == "set":
        return registers.update_entry(*key, change.fields)
    return registers.remove_entry(*key)


def ask(data_dir: Path, request: Request) -> Answer:
    """Ask the running daemon's writer; raises OSError if it cannot be reached."""
    conn = Client(address(data_dir), family="AF_UNIX")
    try:
        conn.send_bytes(msgspec.msgpack.encode(request))
        if not conn.poll(ANSWER_TIMEOUT_S):
            raise TimeoutError(f"no answer from the daemon within {ANSWER_TIMEOUT_S:g} s")
        return _answers.decode(conn.recv_bytes())
    except EOFError as exc:
        raise ConnectionError("the daemon closed the connection") from exc
    finally:
        conn.close()


class DaemonStates:
    """Where a command's pull states go while a daemon runs: to the daemon's writer
    (the shape of :meth:`cashserver.store.registers.Registers.set_states`)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def set_states(self, rows: list[StateRow]) -> None:
        ask(self.data_dir, SetStates(rows))


class ControlServer:
    """The writer's end of the door: applies the command line's changes."""

    def __init__(self, data_dir: Path, registers: Registers, states: StateBuffer) -> None:
        self.data_dir = data_dir
        self.registers = registers
        self.states = states
        self._socket: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind the door; raises OSError if another daemon holds it."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(address(self.data_dir))
            sock.listen(8)
        except OSError:
            sock.close()
            raise
        sock.settimeout(ACCEPT_POLL_S)  # so that stop() is seen
        self._socket = sock
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="control")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                peer, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            peer.settimeout(None)
            conn = Connection(peer.detach())
            try:
                self._answer(conn)
            except Exception as exc:  # one bad request must not end the door
                log.warning("control.failed", error=str(exc))
            finally:
                conn.close()

    def _answer(self, conn: Connection) -> None:
        if not _same_user(conn):
            log.warning("control.refused", reason="another user")
            return
        if not conn.poll(ANSWER_TIMEOUT_S):
            return
        request = _requests.decode(conn.recv_bytes())
        if isinstance(request, ChangeRegister):
            done = apply_change(self.registers, request)
        else:
            for row in request.rows:
                self.states.set_state(*row)
            self.states.flush()
            done = True
        conn.send_bytes(msgspec.msgpack.encode(Answer(done)))


def _same_user(conn: Connection) -> bool:
    sock = socket.socket(fileno=os.dup(conn.fileno()))
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    finally:
        sock.close()
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid in (os.getuid(), 0)
