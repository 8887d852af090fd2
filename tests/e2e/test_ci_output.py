"""Output in a CI log (issue 12 item 5): `genaiops apply --wait` in a child process with TERM=dumb, no tty
and stdout to a pipe, as a CI runner has it. A canary rolls back; no line is cut (`…`) or wrapped (every
known message is whole on one line), and the rollout outcome comes before the closing summary, which says
that it rolled back."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.e2e.canary_helpers import ERRORING, REPO, write_version
from tests.e2e.conftest import Workspace
from tests.helpers import child_env

LONG_STEPS = "[{weight: 20, pause: 2s}, {weight: 50, pause: 2s}]"


def _ci_apply(workspace: Workspace, **env_extra: str) -> subprocess.CompletedProcess[str]:
    """`genaiops apply --auto-approve --wait` as a CI job runs it: TERM=dumb, no COLUMNS, stdin and stdout
    not terminals (stdout and stderr to one pipe)."""
    env = child_env()
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update(TERM="dumb", PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    env.update(env_extra)
    argv = [sys.executable, "-m", "controller", "apply", str(workspace.manifests), "--auto-approve", "--wait"]
    argv += ["--audit-log", str(workspace.root / "audit.log"), "--emulator", workspace.emulator.grpc_target]
    return subprocess.run(
        argv,
        cwd=workspace.root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )


def _line(lines: list[str], pattern: str) -> str:
    """The one line matching `pattern` in full (a wrapped message would match on no line)."""
    found = [line for line in lines if re.search(pattern, line)]
    assert found, f"no line matches {pattern!r}:\n" + "\n".join(lines)
    return found[0]


def test_a_rolled_back_canary_in_a_ci_log_has_no_cut_or_wrapped_line(canary: Workspace) -> None:
    write_version(canary, ERRORING, steps=LONG_STEPS)
    done = _ci_apply(canary)
    output = done.stdout
    assert done.returncode == 1, output
    lines = output.splitlines()
    assert "…" not in output, output
    assert "\x1b[" not in output, "colour codes in a log that is not a terminal"
    # The plan, whole: its long operation and `why` lines and its closing summary each on one line.
    _line(lines, r"^  # Endpoint/us-central1/chat will be rolled out in stages$")
    start = _line(lines, r"^ +\d+\. start canary of primary on chat: .*80%.*20%$")
    why = _line(lines, r"^    why: start a canary rollout of primary .*differ$")
    assert len(start) > 100 and len(why) > 100, (start, why)
    _line(lines, r"^Plan: \d+ to add, \d+ to change, \d+ to destroy.*\.$")
    # Rollout progress and the outcome, whole: every timeline line starts as one, none is a continuation.
    measured = (
        r"^\S+ chat/primary measured step 1/2 weight 20% \| error-rate \S+ vs max 0\.05 \[FAIL\]; latency-p99 .*\]$"
    )
    _line(lines, measured)
    rolled_back = _line(lines, r"^Rolled back chat/primary: error-rate \S+ > max 0\.05 over \d+ requests$")
    timeline = lines[lines.index("Timeline:") + 1 : lines.index(rolled_back)]
    assert timeline and all(re.match(r"\+ *\d+\.\ds chat/primary \S+", line) for line in timeline), timeline
    table_row = _line(lines, r"\bchat\b.*\bprimary\b.*\bdegraded\b")
    assert re.search(r"error-rate \S+ > max 0\.05 over \d+ requests", table_row), table_row  # the reason, whole
    # The outcome before the summary; the summary is the last line, and says what happened.
    summary = next(line for line in reversed(lines) if line.strip())
    assert lines.index(rolled_back) < lines.index(summary)
    assert summary.startswith("Apply finished, rolled back 1 canary (chat/primary)"), summary
    assert re.search(r"Resources: 0 added, \d+ changed, 0 destroyed\.$", summary), summary
    assert not any(line.startswith("Apply complete!") for line in lines), output
