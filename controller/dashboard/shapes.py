"""The dashboard's JSON API: one TypedDict per response, the contract between `page_data.py` (which fills them)
and the pages in `static/` (which draw them). Times are unix seconds (floats); series are [time, value]
pairs in time order; a value the source had no data for is null (a gap in the line, never a zero).

Routes (all GET, all read-only):
  /api/overview                                   -> Overview
  /api/rollout?kind=Endpoint|Prompt&name=N&part=P -> RolloutPage   (part: the deployment, or the prompt label)
  /api/experiment?kind=Endpoint|Prompt&name=N[&part=P] -> ExperimentPage
  /api/prompts                                    -> PromptList
  /api/prompt?name=N                              -> PromptPage
  /api/prompt-diff?name=N&a=V1&b=V2               -> PromptDiff
  /api/cost?since=30d&by=endpoint|prompt|model|label -> CostPage
  /api/audit?q=TEXT&event=E&resource=R&limit=200  -> AuditPage
  /api/events                                     -> text/event-stream: `event: changed` with data {"version": n}
                                                     whenever the snapshot behind the pages changes
"""

from __future__ import annotations

from typing import Literal, TypedDict

Point = tuple[float, float | None]


class ResourceRow(TypedDict):
    """One resource of the overview: sync (does live match the manifests) and health (is what serves healthy)."""

    kind: str  # Endpoint | Model | Prompt | TuningJob | Pipeline | Dataset ...
    name: str
    region: str
    address: str  # Endpoint/us-central1/chat
    action: str  # create | update | delete | rollout | no-op (what apply would do)
    sync: str  # synced | out-of-sync | drifted | suspended
    health: str  # healthy | progressing | paused | degraded | missing | retiring
    reason: str  # why not healthy ("" when healthy)
    drift: bool
    suspended: bool
    rollout: str | None  # link target "kind/name/part" of a rollout in progress or last seen, else None


class RolloutRow(TypedDict):
    """A rollout listed on the overview."""

    kind: Literal["Endpoint", "Prompt"]
    name: str
    part: str  # deployment or label
    identity: str  # chat/primary or prompt/support-answer[production]
    phase: str  # progressing | paused | healthy | degraded
    step: int  # 0-based
    steps: int
    weight: int  # the canary's percent
    reason: str
    strategy: str  # the manifest's spec.rollout.strategy: "canary" | "experiment"


class Overview(TypedDict):
    """The overview page."""

    target: str  # "local emulator (...)", "Vertex AI project p", with the environment when one is selected
    environment: str  # "" without --env
    generated_at: float
    resources: list[ResourceRow]
    rollouts: list[RolloutRow]
    counts: dict[str, int]  # by sync and health value: {"synced": 3, "degraded": 1, ...}
    problems: list[str]  # plan diagnostics (e.g. a create-only field changed), rendered


class Threshold(TypedDict):
    """What a metric was held to: `max` 0.05, `maxMs` 1500, `min` 0.8, or relative to the stable
    (`maxIncrease` 0.2 means canary <= stable * 1.2): then `value` is the relative bound."""

    kind: Literal["max", "min", "maxMs", "maxIncrease", "maxDecrease", "judge"]
    value: float
    text: str  # as shown by the CLI: "max 0.05"


class MeasurementMark(TypedDict):
    """One analysis run of one metric: where the judgement was made and what it said."""

    at: float
    value: float | None
    verdict: Literal["passed", "failed", "inconclusive", "error"]
    step: int
    detail: str


class MetricPlot(TypedDict):
    """One analysis metric of a rollout: the canary's and the stable's series against the threshold."""

    name: str  # error-rate, latency-p99, ...
    unit: str  # "" (a ratio), "ms", "$", "tokens"
    threshold: Threshold
    canary: list[Point]
    stable: list[Point]
    measurements: list[MeasurementMark]


class EventMark(TypedDict):
    """A rollout event on the timeline (from the audit log)."""

    at: float
    kind: str  # started | step | measured | paused | resumed | promoted | aborted | retry
    step: int
    weight: int | None
    detail: str  # the reason, described (for aborted: why it was rolled back)


class StepInfo(TypedDict):
    """One canary step as compiled from the manifest."""

    index: int
    weight: int
    pause: str  # "30s", "indefinite", ""


class RolloutPage(TypedDict):
    """A rollout page: the step timeline, the weight over time, and each analysis metric plotted."""

    kind: Literal["Endpoint", "Prompt"]
    name: str
    part: str
    identity: str
    phase: str
    reason: str
    strategy: str  # the manifest's spec.rollout.strategy: "canary" | "experiment"
    stable: str  # deployed model id or prompt version
    canary: str
    step: int
    steps: list[StepInfo]
    weight: int
    started_at: float | None
    finished_at: float | None
    weights: list[Point]  # the canary's percent over time
    events: list[EventMark]
    metrics: list[MetricPlot]


class VariantStats(TypedDict):
    """One variant of an experiment, one metric."""

    variant: str
    requests: int
    value: float | None
    low: float | None  # confidence interval of the difference to the control (None for the control)
    high: float | None


class ExperimentMetric(TypedDict):
    """One metric compared across an experiment's variants."""

    name: str
    unit: str
    better: Literal["lower", "higher"]
    variants: list[VariantStats]
    verdict: str  # winner | loser | undecided | ...
    detail: str


class ExperimentPage(TypedDict):
    """An experiment's report, as `genaiops experiment report` computes it."""

    kind: Literal["Endpoint", "Prompt"]
    name: str
    part: str
    control: str
    confidence: float
    started_at: float | None
    ends_at: float | None
    decision: str
    metrics: list[ExperimentMetric]
    srm: str  # "" or the sample-ratio-mismatch warning


class PromptRow(TypedDict):
    """A prompt of the store on the prompts list."""

    name: str
    versions: int
    labels: dict[str, str]  # label -> version
    rollouts: list[str]  # labels with a rollout in progress
    updated_at: float | None


class PromptList(TypedDict):
    """Every prompt in the target's store."""

    prompts: list[PromptRow]


class PromptVersionRow(TypedDict):
    """One published version of a prompt."""

    version: str
    created_at: float | None
    author: str
    model: str
    labels: list[str]  # labels pointing at it now


class HistoryRow(TypedDict):
    """A label move (history of the prompt's labels)."""

    at: float | None
    label: str
    version: str
    previous: str | None
    author: str
    reason: str


class PromptPage(TypedDict):
    """A prompt: versions, labels and history."""

    name: str
    labels: dict[str, str]
    versions: list[PromptVersionRow]
    history: list[HistoryRow]


class PromptDiff(TypedDict):
    """The template diff between two versions of a prompt (unified diff lines, without colours)."""

    name: str
    a: str
    b: str
    unified: list[str]
    same: bool


class CostRow(TypedDict):
    """One group of the cost report (by endpoint, prompt, model or label)."""

    key: str
    serving: float
    tokens: float
    tuning: float
    total: float


class CostPage(TypedDict):
    """Cost and usage over time: the totals by group and a daily series of each kind of cost."""

    since: str
    by: str
    currency: str
    rows: list[CostRow]
    daily: dict[str, list[Point]]  # "serving" | "tokens" | "tuning" -> per-day dollars
    requests: list[Point]  # runtime requests per day (all prompts)
    unpriced: list[str]  # what could not be priced, and why


class AuditRow(TypedDict):
    """One line of the audit log (fields as written; `time` parsed)."""

    at: float
    event: str  # apply-started | rollout-aborted | ... ("op" records: the operation)
    resource: str  # address, endpoint or prompt it concerns ("" when none)
    status: str
    summary: str  # one line for people
    record: dict[str, object]  # the record as written (redacted fields stay redacted)


class AuditPage(TypedDict):
    """The audit log, newest first, filtered."""

    rows: list[AuditRow]
    total: int  # records matching before `limit`
    events: list[str]  # the distinct event kinds, for the filter
    skipped: int  # lines that are not a readable record (torn or edited), left out and counted
