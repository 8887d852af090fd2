"""Loader checks of Alert manifests (controller/loader/alert_checks.py): references to Endpoints, deployments,
Prompts, labels and NotificationChannels that exist (with a did-you-mean), thresholds in the metric's unit
and range, durations Cloud Monitoring takes, custom queries that name their metric and resource types and
only known placeholders; each problem at the file, line and column of its field. The example manifests are
the other manifests every case refers to."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from controller.loader import load

EXAMPLES = Path(__file__).resolve().parent.parent / "manifests"
CHANNEL = """apiVersion: genaiops/v1
kind: NotificationChannel
metadata: {name: oncall}
spec: {type: email, address: oncall@example.com}
"""


def alert(spec: str, *, name: str = "watch") -> str:
    body = "\n".join("  " + line for line in spec.strip("\n").splitlines())
    return f"apiVersion: genaiops/v1\nkind: Alert\nmetadata: {{name: {name}}}\nspec:\n{body}\n"


def load_with(tmp_path: Path, *documents: str) -> tuple[Path, list[str], list[int]]:
    """The examples plus an alerts file of `documents` (and the oncall channel); the rendered diagnostics of
    the alerts file and the lines marked `#!` in it."""
    root = tmp_path / "manifests"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns("alerts"))
    path = root / "alerts-under-test.yaml"
    text = "---\n".join([CHANNEL, *documents])
    path.write_text(text, encoding="utf-8")
    result = load(root)
    lines = [d.render() for d in result.diagnostics if d.source.file == str(path)]
    others = [d.render() for d in result.diagnostics if d.source.file != str(path)]
    assert others == []
    marked = [i + 1 for i, line in enumerate(text.splitlines()) if "#!" in line]
    return path, lines, marked


CASES = [
    pytest.param(
        "target: {endpoint: support-chta}  #!\nmetric: error-rate\nthreshold: 5%",
        r"spec\.target\.endpoint: alert refers to unknown Endpoint 'support-chta'; did you mean 'support-chat'\?",
        id="unknown endpoint",
    ),
    pytest.param(
        "target:\n  endpoint: support-chat\n  deployment: primry  #!\nmetric: error-rate\nthreshold: 5%",
        r"spec\.target\.deployment: Endpoint 'support-chat' has no deployment 'primry' \(has: primary\); "
        r"did you mean 'primary'\?",
        id="unknown deployment",
    ),
    pytest.param(
        "target: {prompt: support-answr}  #!\nmetric: feedback-score\ncomparison: '<'\nthreshold: 3",
        r"spec\.target\.prompt: alert refers to unknown Prompt 'support-answr'; did you mean 'support-answer'\?",
        id="unknown prompt",
    ),
    pytest.param(
        "target:\n  prompt: support-answer\n  label: prodution  #!\nmetric: error-rate\nthreshold: 5%",
        r"spec\.target\.label: Prompt 'support-answer' has no label 'prodution' \(declares staging, production\); "
        r"did you mean 'production'\?",
        id="label the prompt does not declare",
    ),
    pytest.param(
        "target: {project: true}\nmetric: cost-per-day\nthreshold: 100\nnotify:\n  - oncall\n  - on-cal  #!",
        r"spec\.notify\[1\]: alert notifies unknown NotificationChannel 'on-cal'; did you mean 'oncall'\?",
        id="unknown channel",
    ),
    pytest.param(
        "target: {endpoint: support-chat}\nmetric: latency-p99\nthreshold: 5%  #!",
        r"spec\.threshold: latency-p99 threshold '5%' has the wrong unit: a latency needs its unit: write 1500ms "
        r"or 1\.5s",
        id="latency in percent",
    ),
    pytest.param(
        "target: {endpoint: support-chat}\nmetric: latency-p99\nthreshold: 1.5  #!",
        r"spec\.threshold: latency-p99 threshold '1\.5' has the wrong unit: a latency needs its unit",
        id="latency without a unit",
    ),
    pytest.param(
        "target: {endpoint: support-chat}\nmetric: error-rate\nthreshold: 5  #!",
        r"spec\.threshold: error-rate threshold '5' is out of range: a fraction from 0 to 1 or a percentage",
        id="ratio above one",
    ),
    pytest.param(
        "target: {endpoint: support-chat}\nmetric: error-rate\nthreshold: 150%  #!",
        r"spec\.threshold: error-rate threshold '150%' is out of range",
        id="ratio above 100 percent",
    ),
    pytest.param(
        "target: {project: true}\nmetric: cost-per-day\nthreshold: 2s  #!",
        r"spec\.threshold: cost-per-day threshold '2s' has the wrong unit: US dollars",
        id="cost in seconds",
    ),
    pytest.param(
        "target: {project: true}\nmetric: feedback-score\ncomparison: '<'\nthreshold: 0.6  #!",
        r"spec\.threshold: feedback-score threshold '0\.6' is out of range: a mean rating from 1 to 5",
        id="rating below one",
    ),
    pytest.param(
        "target: {endpoint: support-chat}\nmetric: request-count\ncomparison: '>='  #!\nthreshold: 1",
        r"spec\.comparison: Cloud Monitoring refuses '>=' in an alert condition .*: use '>'",
        id="greater or equal",
    ),
    pytest.param(
        "target: {endpoint: support-chat}\nmetric: error-rate\nthreshold: 5%\nfor: 90s  #!",
        r"spec\.for: 'for: 90s' must be a whole number of minutes",
        id="duration not whole minutes",
    ),
    pytest.param(
        "target: {endpoint: support-chat}\nmetric: request-count\nabsent: true\nfor: 1m  #!",
        r"spec\.for: 'for: 1m' is too short for 'absent': Cloud Monitoring needs at least 2m",
        id="absence shorter than two minutes",
    ),
    pytest.param(
        "target: {project: true}\nquery: 'metric.type = \"custom.googleapis.com/x\"'  #!\nthreshold: 1",
        r"spec\.query: query must name resource\.type",
        id="query without a resource type",
    ),
    pytest.param(
        "target: {project: true}\n"
        'query: \'metric.type = "x" AND resource.type = "global" AND metric.labels.p = "${prompt}"\'  #!\n'
        "threshold: 1",
        r"spec\.query: query placeholder \$\{prompt\} is not known for this target \(\$\{project\}\)",
        id="query placeholder of another target",
    ),
]


@pytest.mark.parametrize(("spec", "message"), CASES)
def test_an_alert_mistake_is_reported_at_its_field(tmp_path: Path, spec: str, message: str) -> None:
    path, lines, marked = load_with(tmp_path, alert(spec))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:{marked[0]}:")
    assert re.search(message, lines[0]), lines[0]


def test_well_formed_alerts_on_every_target_kind_pass(tmp_path: Path) -> None:
    documents = [
        alert("target: {endpoint: support-chat}\nmetric: error-rate\nthreshold: 5%\nnotify: [oncall]", name="a"),
        alert("target: {endpoint: support-chat, deployment: primary}\nmetric: latency-p99\nthreshold: 1.5s", name="b"),
        alert(
            "target: {prompt: support-answer, label: production}\nmetric: feedback-score\ncomparison: '<'\n"
            "threshold: 3\nfor: 30m",
            name="c",
        ),
        alert("target: {project: true}\nmetric: cost-per-day\nthreshold: $100\nfor: 0s", name="d"),
        alert("target: {prompt: ticket-triage}\nmetric: request-count\nabsent: true\nfor: 2m", name="e"),
        alert(
            "target: {endpoint: support-chat, deployment: primary}\n"
            'query: >-\n  metric.type = "aiplatform.googleapis.com/prediction/online/replicas"\n'
            '  AND resource.type = "aiplatform.googleapis.com/Endpoint"\n'
            '  AND metric.labels.deployed_model_id = "${deployed_model_id}"\n'
            "threshold: 3",
            name="f",
        ),
    ]
    _, lines, _ = load_with(tmp_path, *documents)
    assert lines == []


def test_a_reference_to_an_invalid_manifest_is_not_reported_twice(tmp_path: Path) -> None:
    broken_channel = "apiVersion: genaiops/v1\nkind: NotificationChannel\nmetadata: {name: pager}\nspec: {type: sms}\n"
    _, lines, _ = load_with(
        tmp_path,
        broken_channel,
        alert("target: {project: true}\nmetric: cost-per-day\nthreshold: 5\nnotify: [pager]"),
    )
    assert len(lines) == 1 and "spec.type" in lines[0], lines


def test_a_channel_listed_twice_is_reported(tmp_path: Path) -> None:
    _, lines, _ = load_with(
        tmp_path, alert("target: {project: true}\nmetric: cost-per-day\nthreshold: 5\nnotify: [oncall, oncall]")
    )
    assert len(lines) == 1 and "listed twice" in lines[0]


def test_the_commented_slack_example_validates_once_uncommented(tmp_path: Path) -> None:
    text = (EXAMPLES / "alerts" / "channels.yaml").read_text(encoding="utf-8")
    commented = text[text.index("# ---\n") :].splitlines()
    uncommented = "\n".join(line.removeprefix("# ").removeprefix("#") for line in commented) + "\n"
    _, lines, _ = load_with(tmp_path, uncommented.removeprefix("---\n"))
    assert lines == []
    root = tmp_path / "manifests"
    loaded = load(root)
    slack = [i.manifest for i in loaded.manifests if i.manifest.metadata.name == "support-slack"]
    assert len(slack) == 1 and slack[0].kind == "NotificationChannel"
