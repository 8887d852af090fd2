"""The README's main command: `genaiops demo` tells the whole story on the emulator, on the model catalogue's
own date (not the suite's pinned day), so it proves the demo's models work today."""

from __future__ import annotations

import os
import subprocess
import sys

from controller.model.catalogue.lifecycle import model_catalogue
from tests.helpers import ROOT


def test_the_demo_promotes_a_healthy_canary_and_rolls_back_a_broken_one_on_an_endpoint_and_on_a_prompt() -> None:
    env = {**os.environ, "GENAIOPS_TODAY": model_catalogue().read_on}
    done = subprocess.run(
        [sys.executable, "-m", "controller", "demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "Traceback" not in out + done.stderr
    assert " retired on " not in out and "retiring in" not in out  # its models are current on that day
    assert "Apply complete! Resources: 12 added" in out  # 2 models, 2 endpoints, 2 prompts, 1 channel, 5 alerts
    assert "publish version" in out and "of prompt support-answer: done" in out
    assert "support-chat/primary promoted weight 100%" in out
    assert "support-chat/primary aborted weight 0% | error-rate" in out
    assert "not retried until the spec changes" in out
    assert "200 requests:" in out and "1 rating recorded" in out  # the application part (demo_runtime.py)
    usage = out[out.index("$ genaiops usage") :]
    assert "CACHE" in usage and "ticket-triage" in usage and "5.00 (1)" in usage
    canaries = out[out.index("6. support-answer moves to gemini-3.8-flash") :]
    upgrade, worse = canaries.split("7. A shortened template", 1)
    assert "prompt/support-answer[production] PROMOTED step 2/2 weight 100%" in upgrade
    assert "prompt/support-answer[staging] PROMOTED step 2/2 weight 100%" in upgrade
    assert "prompt/support-answer[production] ROLLED BACK step 1/2 weight 0% | feedback-score" in worse
    assert "rolled back 2 canaries (prompt/support-answer[staging], prompt/support-answer[production])" in worse or (
        "rolled back 2 canaries (prompt/support-answer[production], prompt/support-answer[staging])" in worse
    )
    assert "Requests served per version while the canaries ran:" in worse
    tuning = out[out.index("8. Data -> tune -> evaluate -> roll out") :]
    tuned, broken = tuning.split("9. A broken dataset stops at validation", 1)
    broken, failing = broken.split("10. A tuned model that fails its gate", 1)
    assert "start tuning job support-tuned" in tuned and "evaluate the tuned model of support-tuned" in tuned
    assert "prompt/support-answer[production] PROMOTED" in tuned and "endpoints/" in tuned
    assert 'contents[0].role: expected "user" first' in broken and "dataset support-train has 1 problem" in broken
    assert "TuningJob/us-central1/support-tuned" in failing and "failed its" in failing
    assert "publish version" not in failing  # the prompt never moved to the failing model
    assert "Demo complete" in out
