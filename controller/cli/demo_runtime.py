"""The demo's application parts: an application (manifests/apps/support_app.py) calls the prompts the demo
published 200 times through the runtime client against the demo's emulator, then `genaiops usage` and
`genaiops feedback report` read back what it recorded. Then, with simulated customers asking and rating
answers the whole time (`Users` in the app), two prompt canaries: the model upgrade of `support-answer`
(gemini-3.5-flash -> gemini-3.8-flash) promoted, and a template that forgot to greet customers by name
whose shortened template no longer passes the help-centre articles to the model (customers rate its answers
lower) rolled back on its feedback score.

The emulator's `gemini-3.5-flash` (the demo prompts' model) answers in about 40 ms, fails 3% of calls and
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

EMULATED_GEMINI = {
    "gemini-3.5-flash": "latency_ms=40;latency_jitter_ms=15;error_rate=0.03;block_rate=0.02",
    "gemini-3.8-flash": "latency_ms=30;latency_jitter_ms=10;error_rate=0.01;block_rate=0.01;output_tokens=60",
}
OLD_MODEL = "publishers/google/models/gemini-3.5-flash"
NEW_MODEL = "publishers/google/models/gemini-3.8-flash"
ARTICLES = "{% for article in articles %}\n## {{ article.title }}\n{{ article.body }}\n{% endfor %}"
ARTICLE_COUNT = "({{ articles | length }} articles retrieved)"
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


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    if old not in text:
        raise ValueError(f"the demo expects {old!r} in {path}")
    path.write_text(text.replace(old, new), encoding="utf-8")


def canary_part(
    console: Console,
    *,
    step: int,
    manifests: Path,
    emulator: Any,
    store: str,
    tmp: Path,
    common: list[str],
    run: Callable[[Console, list[str]], int],
    then: Callable[[], bool] | None = None,
) -> bool:
    """The two prompt canaries, with simulated customers on the runtime client throughout (and `then`, the
    next part, while they still ask); True when the upgrade was promoted, the worse template rolled back and
    `then` succeeded."""
    from controller.prompts.client import PromptClient
    from controller.providers.prompt_store import open_store
    from controller.providers.runtime_models import vertex_models
    from controller.providers.runtime_stores import cloud_monitoring_recorder, open_feedback_store
    from controller.runtime import GenAIClient
    from controller.runtime.feedback import FeedbackRecorder

    app = _load_app(manifests / APP)
    project = "local-project"
    prompts = PromptClient(open_store(store, retry_deadline_s=2), project=project, ttl_s=0.5)
    models = vertex_models(
        project=project, location="us-central1", grpc_target=emulator.grpc_target, genai_base_url=emulator.rest_endpoint
    )
    metrics = cloud_monitoring_recorder(
        project=project, emulator=emulator.grpc_target, interval_s=0.5, min_spacing_s=0.5
    )
    feedback = FeedbackRecorder(open_feedback_store(project=None, path=tmp / "canary-feedback.sqlite"))
    client = GenAIClient(prompts, models, recorder=feedback.tee(metrics), cache="off", project=project)
    users = app.Users(client, feedback).start()
    try:
        console.print(rule(f"{step}. support-answer moves to gemini-3.8-flash: a canary over the runtime client"))
        console.print(
            "Simulated customers ask support-answer the whole time, each with their user id as the routing key, "
            "and rate every answer.",
            highlight=False,
        )
        _replace(manifests / "models.yaml", OLD_MODEL, NEW_MODEL)
        promoted = run(console, ["apply", str(manifests), "--auto-approve", "--wait", *common]) == 0
        console.print(rule(f"{step + 1}. A shortened template drops the articles: customers rate it lower"))
        _replace(manifests / "prompts" / "support-answer.j2", ARTICLES, ARTICLE_COUNT)
        rolled_back = run(console, ["apply", str(manifests), "--auto-approve", "--wait", *common]) == 1
        run(console, ["rollout", "status", "support-answer", "-f", str(manifests), *common])
        _replace(manifests / "prompts" / "support-answer.j2", ARTICLE_COUNT, ARTICLES)  # back to the good one
        later = then() if then is not None else True
    finally:
        served = users.stop()
        client.close()
        metrics.close()
    shares = ", ".join(f"{version}: {n}" for version, n in served.most_common())
    console.print(f"Requests served per version while the canaries ran: {shares}", highlight=False)
    return promoted and rolled_back and later
