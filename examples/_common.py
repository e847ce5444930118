"""Shared by the examples: where the data sets live, and running the rnnkit command line in-process."""

from __future__ import annotations

import sys
from pathlib import Path

from rnnkit.cli.main import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def data_file(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        sys.exit(f"{path} is missing: the examples read the public data sets in ../shared/data")
    return path


def sibling(name: str):
    """The example module ``examples/NAME.py`` (a data generator shared by an example and its tests)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def rnnkit(*argv) -> None:
    """Run ``rnnkit ARGV…``; stop the example if it fails."""
    print("$ rnnkit " + " ".join(str(a) for a in argv), flush=True)
    code = main([str(a) for a in argv])
    if code:
        sys.exit(code)
