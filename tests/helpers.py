"""Shared test helpers: the repository root and a CLI runner that also captures `sys.exit` codes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import click
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"


def run_cli(command: click.Command, args: Sequence[str]) -> Result:
    """Invoke a click command in-process, as the console script would."""
    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def child_env() -> dict[str, str]:
    """This process's environment for a genaiops child process, without any GENAIOPS_* setting or project
    (a child must not inherit an emulator address, a token or an environment) except GENAIOPS_TODAY, the
    suite's calendar day (tests/conftest.py) that model lifecycle is judged on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENAIOPS_", "GOOGLE_CLOUD_PROJECT"))}
    if "GENAIOPS_TODAY" in os.environ:
        env["GENAIOPS_TODAY"] = os.environ["GENAIOPS_TODAY"]
    return env
