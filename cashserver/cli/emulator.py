"""``cashserver emulator push|serve``: a register emulator (:mod:`cashserver.emulator`)."""

from __future__ import annotations

import argparse

from cashserver.cli.common import OperationFailed
from cashserver.config import Config


def cmd_emulator_push(_config: Config, args: argparse.Namespace) -> int:
    from cashserver.emulator.commands import EmulatorError, push

    try:
        return push(args)
    except EmulatorError as exc:
        raise OperationFailed(str(exc)) from None


def cmd_emulator_serve(_config: Config, args: argparse.Namespace) -> int:
    from cashserver.emulator.commands import EmulatorError, serve

    try:
        return serve(args)
    except EmulatorError as exc:
        raise OperationFailed(str(exc)) from None
