"""The demo's last part: an application (manifests/apps/support_app.py) calls the prompts the demo
published 200 times through the runtime client against the demo's emulator, then `genaiops usage` and
`genaiops feedback report` read back what it recorded.

The emulator's `gemini-2.0-flash` (the demo prompts' model) answers in about 40 ms, fails 3% of calls and
blocks 2% on safety (`EMULATED_GEMINI`), so the report shows errors and blocks; triage tickets repeat, so
it shows cache hits. The application runs in this process (loaded from its file) to keep the demo short.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from controller.cli.console import rule

EMULATED_GEMINI = {"gemini-2.0-flash": "latency_ms=40;latency_jitter_ms=15;error_rate=0.03;block_rate=0.02"}
APP = Path("apps") / "support_app.py"
REQUESTS = 200


def _load_app(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("genaiops_demo_support_app", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runtime_part(
    console: Console,
    *,
    step: int,
    manifests: Path,
    emulator: Any,
    store: str,
    tmp: Path,
    run: Callable[[Console, list[str]], int],
) -> bool:
    """Run the application and the two reports; False when the application failed."""
    app = manifests / APP
    if not app.is_file():
        console.print(f"(no {APP} under {manifests}: skipping the application part)", highlight=False)
        return True
    console.print(rule(f"{step}. An application calls the published prompts {REQUESTS} times; usage reads it back"))
    feedback_db = tmp / "feedback.sqlite"
    args = [
        "--emulator",
        emulator.grpc_target,
        "--genai-url",
        emulator.rest_endpoint,
        "--prompt-store",
        store,
        "--feedback-db",
        str(feedback_db),
        "--requests",
        str(REQUESTS),
    ]
    console.print(f"$ python {APP} {' '.join(args)}", style="bold", markup=False, highlight=False)
    try:
        code = int(_load_app(app).main(args) or 0)
    except Exception as err:  # a broken example must not hide the rest of the demo's output
        console.print(f"the application failed: {type(err).__name__}: {err}", style="red", markup=False)
        return False
    if code != 0:
        return False
    run(console, ["usage", "--emulator", emulator.grpc_target, "--since", "1h", "--by", "prompt"])
    run(console, ["feedback", "report", "--feedback-db", str(feedback_db)])
    return True
