"""``rnnkit TASK VERB …``: the command line. Task modules register their verbs here."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from rnnkit import __version__
from rnnkit.errors import RnnkitError


def build_parser() -> argparse.ArgumentParser:
    from rnnkit.cli import classify, diagnose, lm, music, speech, tag, translate

    parser = argparse.ArgumentParser(
        prog="rnnkit", description="Recurrent sequence models: train, sample, score and evaluate.",
        epilog="Run 'rnnkit TASK --help' for a task's verbs, e.g. 'rnnkit lm train --help'.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    tasks = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    lm.register(tasks)
    classify.register(tasks)
    tag.register(tasks)
    music.register(tasks)
    translate.register(tasks)
    speech.register(tasks)
    diagnose.register(tasks)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point: returns 0 on success, 2 for a user error (one line on stderr), 130 when interrupted."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, value in vars(args).items():
        if isinstance(value, list) and not value and name != "files":  # argparse turns "--flag=--" into [];
            # an empty list of positional FILEs means standard input
            parser.error(f"argument --{name.replace('_', '-')}: expected a value")
    warnings.simplefilter("default", RuntimeWarning)
    warnings.formatwarning = _format_warning
    try:
        return int(args.handler(args) or 0)
    except (RnnkitError, ValueError) as e:
        print(f"rnnkit: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rnnkit: interrupted; the last checkpoint is kept (continue with --resume RUN)", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


_default_format_warning = warnings.formatwarning


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """rnnkit's own warnings as one line, ``rnnkit: warning: …``; other libraries' as Python shows them."""
    if "rnnkit" in Path(filename).parts:
        return f"rnnkit: warning: {message}\n"
    return _default_format_warning(message, category, filename, lineno, line)


if __name__ == "__main__":
    sys.exit(main())
