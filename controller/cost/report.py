"""What was spent over a window (`genaiops cost`), priced purely from measured usage and a price table.

Place in the flow: `controller/providers/cost_reader.py` reads the usage (Vertex AI's replica-count gauge
per deployed model, the runtime client's token counters, completed tuning jobs) into the plain values below;
the functions here turn each into `CostItem`s and `cost_report` groups them; `controller/views/cost_report.py`
renders the result. No I/O, no clock: the window is passed in.

- Serving: node-hours = sum over alignment periods of (mean replicas x samples x `SAMPLE_PERIOD_S`) / 3600,
  i.e. the integral of the 60 s replica gauge; cost = node-hours x (node-hour of the machine type in the
  region + accelerator-hour x accelerators per replica). The machine comes from the live endpoint; a
  deployed model that is gone (or runs on Spot VMs, which the table does not price) is unpriced.
- Tokens: per (prompt, version, label, model), (input - cached) x input price + cached x cached price +
  (output + thinking) x output price, per 1M, at the context tier of the average prompt (input tokens / model
  calls). The runtime's own recorded cost rides along as `recorded_usd`. Tokens sent to a registry model
  on an endpoint are included in that endpoint's node-hours (no per-token price), unless a PriceBook
  prices the endpoint per token.
- Tuning: a job that succeeded inside the window costs dataset tokens x epochs at the base model's tuning
  price; a job that reports no token count or epoch count, or a base model without a price, is unpriced.

An item without a price has `usd` None and a reason; it is listed and counted, never added as $0.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from controller.cost.prices import Price, model_key

SAMPLE_PERIOD_S = 60.0  # Vertex AI samples prediction/online/replicas every 60 s
HOUR_S = 3600.0
MILLION = 1_000_000
NONE = "-"  # the group value of an item without that dimension (a tuning job has no prompt)
GROUPINGS: dict[str, tuple[str, ...]] = {
    "endpoint": ("endpoint",),
    "prompt": ("prompt",),
    "model": ("model",),
    "label": ("prompt", "label"),
}
_ENDPOINT = re.compile(r"^projects/[^/]+/locations/(?P<region>[^/]+)/endpoints/(?P<id>[^/@]+)$")
Kind = Literal["serving", "tokens", "tuning"]
Status = Literal["priced", "unpriced", "included"]


class Prices(Protocol):
    """What the report asks of a price table (`controller.cost.prices.PriceTable`)."""

    def node_hour(self, *, region: str, machine_type: str) -> Price | None: ...

    def accelerator_hour(self, *, region: str, accelerator: str) -> Price | None: ...

    def tokens(
        self, *, model: str, kind: Literal["input", "output", "cached"], prompt_tokens: int = 0
    ) -> Price | None: ...

    def tuning_tokens(self, *, base_model: str) -> Price | None: ...


# ---- inputs ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaPeriod:
    """One alignment period of a deployed model's replica gauge: the mean and how many samples it had."""

    mean: float
    samples: int


@dataclass(frozen=True)
class ReplicaUsage:
    """A deployed model's replica gauge over the window (one series of `prediction/online/replicas`)."""

    region: str
    endpoint_id: str
    deployed_model_id: str
    model_display_name: str
    periods: tuple[ReplicaPeriod, ...]
    spot: bool = False

    @property
    def node_hours(self) -> float:
        """The integral of the replica count over the window, in node-hours."""
        return sum(p.mean * p.samples for p in self.periods) * SAMPLE_PERIOD_S / HOUR_S

    @property
    def hours_deployed(self) -> float:
        """How long it was sampled (deployed) in the window, in hours."""
        return sum(p.samples for p in self.periods) * SAMPLE_PERIOD_S / HOUR_S


@dataclass(frozen=True)
class Machine:
    """What a live deployed model runs on (from its endpoint), and which model it serves."""

    model: str  # the registry model id
    machine_type: str
    accelerator_type: str | None = None
    accelerator_count: int = 0


@dataclass(frozen=True)
class TokenUsage:
    """The runtime client's token counters of one (prompt, version, label, model) over the window."""

    prompt: str
    version: str
    label: str
    model: str
    model_calls: int  # requests that reached the model (not cache hits, blocked inputs or errors)
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    thinking_tokens: int = 0
    recorded_usd: float = 0.0  # what the runtime priced the calls at (its own table)


@dataclass(frozen=True)
class TuningUsage:
    """A tuning job as the report needs it."""

    name: str  # projects/P/locations/L/tuningJobs/ID
    region: str
    manifest: str
    base_model: str
    succeeded: bool
    end_time: float | None  # unix seconds; None while running
    dataset_tokens: int | None  # tuning_data_stats...total_billable_token_count; None when not reported
    epochs: int | None  # None when the service chose it and did not say


# ---- outputs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostItem:
    """One priced (or unpriced) thing: a deployed model's serving, a prompt's tokens, a tuning job."""

    kind: Kind
    keys: Mapping[str, str]  # endpoint, model, prompt, version, label, region, deployed_model, job
    quantity: float
    unit: str  # "node-hours", "tokens", "training tokens"
    usd: float | None  # None: unpriced
    status: Status
    why: str = ""  # why unpriced, or what an included item is included in
    sources: tuple[str, ...] = ()
    detail: Mapping[str, float | int | str | None] = field(default_factory=dict)

    def group(self, by: str) -> tuple[tuple[str, str], ...]:
        """The item's group under `--by` (`NONE` for a dimension it lacks)."""
        return tuple((k, self.keys.get(k) or NONE) for k in GROUPINGS[by])


@dataclass(frozen=True)
class CostGroup:
    """The cost of one group (or the total, with an empty group): priced dollars by kind and how many items
    could not be priced."""

    group: tuple[tuple[str, str], ...]
    serving_usd: float = 0.0
    tokens_usd: float = 0.0
    tuning_usd: float = 0.0
    node_hours: float = 0.0
    tokens: int = 0
    unpriced: int = 0
    priced_kinds: frozenset[str] = frozenset()  # kinds with at least one priced (or included) item
    unpriced_kinds: frozenset[str] = frozenset()  # kinds with at least one unpriced item

    @property
    def usd(self) -> float:
        """The priced total (unpriced items are not in it)."""
        return self.serving_usd + self.tokens_usd + self.tuning_usd

    def kind_usd(self, kind: Kind) -> float | None:
        """The priced dollars of one kind; None when every item of that kind is unpriced (never a false $0)."""
        if kind not in self.priced_kinds and kind in self.unpriced_kinds:
            return None
        return {"serving": self.serving_usd, "tokens": self.tokens_usd, "tuning": self.tuning_usd}[kind]

    @property
    def total_usd(self) -> float | None:
        """The priced total; None when nothing in the group has a price but something is unpriced."""
        return None if not self.priced_kinds and self.unpriced_kinds else self.usd


@dataclass(frozen=True)
class CostReport:
    """The report: every item, the groups under `by`, the total and the unpriced items."""

    by: str
    items: tuple[CostItem, ...]
    groups: tuple[CostGroup, ...]
    total: CostGroup

    @property
    def unpriced(self) -> tuple[CostItem, ...]:
        """The items without a price, in report order."""
        return tuple(i for i in self.items if i.status == "unpriced")


# ---- pricing ---------------------------------------------------------------------------------------------


def _sources(*prices: Price | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f"{p.source} ({p.as_of}{'' if p.confirmed else ', unconfirmed'})" for p in prices if p))


def serving_items(
    usages: Iterable[ReplicaUsage], machines: Mapping[tuple[str, str, str], Machine], prices: Prices
) -> list[CostItem]:
    """One item per deployed model with replica samples; `machines` by (region, endpoint id, deployed model id)."""
    items: list[CostItem] = []
    for u in usages:
        machine = machines.get((u.region, u.endpoint_id, u.deployed_model_id))
        keys = {
            "endpoint": u.endpoint_id,
            "region": u.region,
            "deployed_model": u.deployed_model_id,
            "model": machine.model if machine else u.model_display_name,
        }
        detail: dict[str, float | int | str | None] = {
            "hours_deployed": round(u.hours_deployed, 6),
            "mean_replicas": round(u.node_hours / u.hours_deployed, 6) if u.hours_deployed else None,
            "machine_type": machine.machine_type if machine else None,
            "accelerator": f"{machine.accelerator_type} x{machine.accelerator_count}"
            if machine and machine.accelerator_type
            else None,
        }
        hourly, why, used = _hourly(u, machine, prices)
        items.append(
            CostItem(
                kind="serving",
                keys=keys,
                quantity=u.node_hours,
                unit="node-hours",
                usd=None if hourly is None else u.node_hours * hourly,
                status="unpriced" if hourly is None else "priced",
                why=why,
                sources=used,
                detail={**detail, "usd_per_node_hour": hourly},
            )
        )
    return items


def _hourly(u: ReplicaUsage, machine: Machine | None, prices: Prices) -> tuple[float | None, str, tuple[str, ...]]:
    """(USD per replica-hour, why not, sources) of a deployed model."""
    if machine is None:
        return None, "machine type unknown: the deployed model is no longer on its endpoint", ()
    if u.spot:
        return None, "runs on Spot VMs: the price table has no Spot prices", ()
    node = prices.node_hour(region=u.region, machine_type=machine.machine_type)
    if node is None:
        return None, f"no node-hour price for {machine.machine_type} in {u.region}", ()
    hourly, accelerator = node.usd, None
    if machine.accelerator_type and machine.accelerator_count:
        accelerator = prices.accelerator_hour(region=u.region, accelerator=machine.accelerator_type)
        if accelerator is None:
            return None, f"no accelerator-hour price for {machine.accelerator_type} in {u.region}", _sources(node)
        hourly += accelerator.usd * machine.accelerator_count
    return hourly, "", _sources(node, accelerator)


def _endpoint_id(model: str) -> str | None:
    match = _ENDPOINT.match(model)
    return match["id"] if match else None


def token_items(usages: Iterable[TokenUsage], prices: Prices) -> list[CostItem]:
    """One item per (prompt, version, label, model) with tokens."""
    items: list[CostItem] = []
    for u in usages:
        endpoint = _endpoint_id(u.model)
        keys = {
            "prompt": u.prompt,
            "version": u.version,
            "label": u.label,
            "model": model_key(u.model) if endpoint is None else u.model,
            **({"endpoint": endpoint} if endpoint else {}),
        }
        tokens = u.input_tokens + u.output_tokens + u.thinking_tokens
        detail: dict[str, float | int | str | None] = {
            "model_calls": u.model_calls,
            "input_tokens": u.input_tokens,
            "cached_tokens": u.cached_tokens,
            "output_tokens": u.output_tokens,
            "thinking_tokens": u.thinking_tokens,
            "recorded_usd": round(u.recorded_usd, 9),
        }
        average = u.input_tokens // u.model_calls if u.model_calls else u.input_tokens
        wanted = {
            kind: prices.tokens(model=u.model, kind=kind, prompt_tokens=average)
            for kind in ("input", "output", "cached")
        }
        input_price, output_price, cached_price = wanted["input"], wanted["output"], wanted["cached"]
        if input_price is None or output_price is None:
            included = endpoint is not None
            items.append(
                CostItem(
                    kind="tokens",
                    keys=keys,
                    quantity=tokens,
                    unit="tokens",
                    usd=0.0 if included else None,
                    status="included" if included else "unpriced",
                    why=f"served by endpoint {endpoint}: billed as its node-hours (serving)"
                    if included
                    else f"no token price for {u.model}",
                    detail=detail,
                )
            )
            continue
        cached = min(u.cached_tokens, u.input_tokens)
        cached_usd = (cached_price or input_price).usd
        usd = (
            (u.input_tokens - cached) * input_price.usd
            + cached * cached_usd
            + (u.output_tokens + u.thinking_tokens) * output_price.usd
        ) / MILLION
        items.append(
            CostItem(
                kind="tokens",
                keys=keys,
                quantity=tokens,
                unit="tokens",
                usd=usd,
                status="priced",
                sources=_sources(input_price, output_price, cached_price if cached else None),
                detail=detail,
            )
        )
    return items


def tuning_items(jobs: Iterable[TuningUsage], prices: Prices, *, start: float, end: float) -> list[CostItem]:
    """One item per tuning job that succeeded within [start, end]."""
    items: list[CostItem] = []
    for job in jobs:
        if not job.succeeded or job.end_time is None or not start <= job.end_time <= end:
            continue
        keys = {"job": job.name, "region": job.region, "model": model_key(job.base_model), "tuning": job.manifest}
        trained = job.dataset_tokens * job.epochs if job.dataset_tokens is not None and job.epochs else None
        detail: dict[str, float | int | str | None] = {
            "dataset_tokens": job.dataset_tokens,
            "epochs": job.epochs,
            "base_model": job.base_model,
        }
        price = prices.tuning_tokens(base_model=job.base_model)
        why = ""
        if job.dataset_tokens is None:
            why = "the job reports no billable token count"
        elif not job.epochs:
            why = "the job's epoch count is unknown (the service chose it)"
        elif price is None:
            why = f"no tuning price for {model_key(job.base_model)} (a PriceBook row can give one)"
        usd = None if why or price is None or trained is None else trained * price.usd / MILLION
        items.append(
            CostItem(
                kind="tuning",
                keys=keys,
                quantity=float(trained or 0),
                unit="training tokens",
                usd=usd,
                status="unpriced" if usd is None else "priced",
                why=why,
                sources=_sources(price),
                detail=detail,
            )
        )
    return items


# ---- grouping --------------------------------------------------------------------------------------------


@dataclass
class _Sum:
    usd: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    node_hours: float = 0.0
    tokens: int = 0
    unpriced: int = 0
    priced_kinds: set[str] = field(default_factory=set)
    unpriced_kinds: set[str] = field(default_factory=set)

    def add(self, item: CostItem) -> None:
        if item.usd is None:
            self.unpriced += 1
            self.unpriced_kinds.add(item.kind)
        else:
            self.usd[item.kind] += item.usd
            self.priced_kinds.add(item.kind)
        if item.kind == "serving":
            self.node_hours += item.quantity
        elif item.kind == "tokens":
            self.tokens += int(item.quantity)

    def group(self, key: tuple[tuple[str, str], ...]) -> CostGroup:
        return CostGroup(
            key,
            serving_usd=self.usd.get("serving", 0.0),
            tokens_usd=self.usd.get("tokens", 0.0),
            tuning_usd=self.usd.get("tuning", 0.0),
            node_hours=self.node_hours,
            tokens=self.tokens,
            unpriced=self.unpriced,
            priced_kinds=frozenset(self.priced_kinds),
            unpriced_kinds=frozenset(self.unpriced_kinds),
        )


def cost_report(items: Sequence[CostItem], *, by: str) -> CostReport:
    """Group the items under `by` (sorted by group, the `-` group last); raises ValueError for another `by`."""
    if by not in GROUPINGS:
        raise ValueError(f"--by must be one of {', '.join(GROUPINGS)} (got {by!r})")
    sums: dict[tuple[tuple[str, str], ...], _Sum] = defaultdict(_Sum)
    overall = _Sum()
    for item in items:
        sums[item.group(by)].add(item)
        overall.add(item)

    def order(key: tuple[tuple[str, str], ...]) -> tuple[bool, tuple[tuple[str, str], ...]]:
        return (any(v == NONE for _, v in key), key)

    groups = tuple(sums[k].group(k) for k in sorted(sums, key=order))
    ordered = sorted(items, key=lambda i: (("serving", "tokens", "tuning").index(i.kind), sorted(i.keys.items())))
    return CostReport(by=by, items=tuple(ordered), groups=groups, total=overall.group(()))
