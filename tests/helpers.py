"""Shared test helpers: the repository root and a CLI runner that also captures `sys.exit` codes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"


def run_cli(command: click.Command, args: Sequence[str]) -> Result:
    """Invoke a click command in-process, as the console script would."""
    return CliRunner().invoke(command, list(args), catch_exceptions=False)
