"""The command-line fixtures of tests/cli, for the diagnose commands."""

from tests.cli.conftest import corpus, rnnkit  # noqa: F401
