"""Command line: ``python -m affiliation_curator COMMAND ...``.

Each command group lives in its own ``commands_*`` module with ``register(subparsers)``;
a handler returns an exit code. User-facing problems (``CuratorError``) print one line
to stderr and exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from affiliation_curator.errors import CuratorError

# Modules that add sub-commands, in --help order.
COMMAND_MODULES = [
    "affiliation_curator.cli.registry",
    "affiliation_curator.cli.match",
    "affiliation_curator.cli.evaluate",
    "affiliation_curator.cli.model",
    "affiliation_curator.cli.decisions",
    "affiliation_curator.cli.export",
    "affiliation_curator.cli.serve",
    "affiliation_curator.cli.corpus",
    "affiliation_curator.cli.team",
]


def command_group(
    subparsers: argparse._SubParsersAction, name: str, *, help: str, description: str  # noqa: A002 - argparse's word
) -> argparse._SubParsersAction:
    """Add a command with sub-commands (``registry import``, ...); the bare command prints its help, exit 2."""
    parser = subparsers.add_parser(name, help=help, description=description)

    def usage(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return 2

    parser.set_defaults(handler=usage)
    return parser.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m affiliation_curator",
        description="Match research-affiliation strings to ROR institutions; curate and export.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command as typed (a model card records how the model was made)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(handler(args) or 0)
    except CuratorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file or folder the user named: missing, unreadable, disk full...
        where = f": {err.filename}" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
