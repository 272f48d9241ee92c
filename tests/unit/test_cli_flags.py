"""Every subcommand takes ``--config`` and ``--verbose`` (SPEC 6)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from cashserver.cli.main import build_parser


def leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """The command paths that run something (``("registers", "add")``...)."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield path
        return
    for name, sub in actions[0].choices.items():
        yield from leaves(sub, (*path, name))


def test_every_subcommand_takes_verbose_and_config() -> None:
    parser = build_parser()
    commands = list(leaves(parser))
    assert ("reexport",) in commands and ("registers", "add") in commands
    assert len(commands) > 15
    for path in commands:
        sub = parser
        for name in path:
            action = next(a for a in sub._actions if isinstance(a, argparse._SubParsersAction))
            sub = action.choices[name]
        options = {o for a in sub._actions for o in a.option_strings}
        assert {"--verbose", "--config"} <= options, path
