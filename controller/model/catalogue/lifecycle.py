"""Foundation model lifecycle: which Gemini publisher models exist, when each retires, and what replaces it.

`model_catalogue()` reads `publisher_models.yaml` (package data) once; `parse_models` turns such a document
into a `ModelCatalogue` and refuses a malformed one with `CatalogueError`. A project's `ModelLifecycle`
manifests add or correct rows (`ModelCatalogue.with_rows`). `lifecycle_of` judges one model id on a given
day against a horizon: current, retiring (within the horizon: a warning), retired (past its last day: an
error, and a 404 from the API), or unknown (not in the catalogue: nothing is said).

Pure: the day is passed in (`Horizon`), never read from a clock. The loader's checks, the planner's health,
`models outdated`, the runtime client's error for a retired model and the emulator's 404 all ask this
module, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

import yaml

from controller.model.catalogue.data import CatalogueError

MODELS_FILE = "publisher_models.yaml"
TODAY_ENV = "GENAIOPS_TODAY"  # the day lifecycle is judged on, for the CLI, the runtime and the emulator alike
DEFAULT_HORIZON_DAYS = 60
PUBLISHER_PREFIX = "publishers/google/models/"
_ROW_KEYS = {
    "family",
    "aliases",
    "released",
    "retires",
    "successor",
    "context_window",
    "tuning",
    "confirmed",
    "source",
    "note",
}


@dataclass(frozen=True)
class ModelSource:
    """A page rows were read from, when, and what it showed."""

    key: str
    url: str
    read: str
    what: str


@dataclass(frozen=True)
class PublisherModelInfo:
    """One publisher model's lifecycle row. `retires` is its last available day (None: none published)."""

    model_id: str
    family: str
    aliases: tuple[str, ...] = ()
    released: date | None = None
    retires: date | None = None
    successor: str | None = None
    context_window: int | None = None
    tuning: bool | None = None
    confirmed: bool = True
    source: str = ""  # a `sources` key, or the `source` text of a ModelLifecycle manifest
    note: str = ""
    origin: str | None = None  # the ModelLifecycle manifest that declared the row (None: the bundled catalogue)


@dataclass(frozen=True)
class Horizon:
    """The day lifecycle is judged on, and how far ahead a retirement is a warning."""

    today: date
    within_days: int = DEFAULT_HORIZON_DAYS


class Stage(StrEnum):
    """Where a model is in its lifecycle on the horizon's day."""

    CURRENT = "current"
    RETIRING = "retiring"  # its last day falls within the horizon
    RETIRED = "retired"  # past its last day: calls answer 404
    UNKNOWN = "unknown"  # not in the catalogue


@dataclass(frozen=True)
class Lifecycle:
    """One model id judged on a day: its row (if known), stage, days left and the model to move to."""

    model_id: str
    stage: Stage
    info: PublisherModelInfo | None = None
    days_left: int | None = None  # days until its last day (0: today is the last day; negative: retired)
    successor: str | None = None  # the first model along the successor chain that is not retiring

    @property
    def retires(self) -> date | None:
        """The last available day, when known."""
        return self.info.retires if self.info is not None else None

    def describe(self) -> str:
        """`gemini-2.0-flash retired on 2026-02-05; move to gemini-2.5-flash` and the like (no trailing period)."""
        when = self.retires.isoformat() if self.retires is not None else "?"
        move = f"; move to {self.successor}" if self.successor else "; the catalogue names no successor"
        if self.stage is Stage.RETIRED:
            return f"{self.model_id} retired on {when}{move}"
        if self.stage is Stage.RETIRING:
            days = self.days_left if self.days_left is not None else 0
            if days == 0:
                return f"{self.model_id} retires today (its last day is {when}){move}"
            return f"{self.model_id} is retiring in {days} day{'s' if days != 1 else ''} (last day {when}){move}"
        return f"{self.model_id} is {self.stage.value}"


@dataclass(frozen=True)
class ModelCatalogue:
    """Every known publisher model by id, with its aliases resolving to the same row."""

    read_on: str
    sources: Mapping[str, ModelSource]
    models: Mapping[str, PublisherModelInfo]  # by model id, in file order

    def find(self, model_id: str) -> PublisherModelInfo | None:
        """The row of a model id or alias (`gemini-2.0-flash` -> the gemini-2.0-flash-001 row), else None."""
        found = self.models.get(model_id)
        if found is not None:
            return found
        return next((m for m in self.models.values() if model_id in m.aliases), None)

    def with_rows(self, rows: Iterable[PublisherModelInfo]) -> ModelCatalogue:
        """This catalogue with `rows` added, each replacing the row of the same id or alias. A row replacing
        a row by its id keeps that row's aliases (a corrected date of `gemini-2.0-flash-001` still judges
        `gemini-2.0-flash`); a row for an alias takes the alias over (the original keeps its other aliases)."""
        models = dict(self.models)

        def owner(name: str) -> PublisherModelInfo | None:
            return models.get(name) or next((m for m in models.values() if name in m.aliases), None)

        for given in rows:
            row, known = given, owner(given.model_id)
            if known is not None and known.model_id == row.model_id:
                kept = tuple(a for a in known.aliases if a not in row.aliases)
                row = replace(row, aliases=(*row.aliases, *kept))
            elif known is not None:
                models[known.model_id] = replace(known, aliases=tuple(a for a in known.aliases if a != row.model_id))
            models[row.model_id] = row
        return ModelCatalogue(self.read_on, self.sources, models)

    def successor_of(self, model_id: str, horizon: Horizon) -> str | None:
        """The model to move `model_id` to: its successor, followed while that one is retired or retiring
        within the horizon too (the last one in the chain when all are); None without a successor."""
        info = self.find(model_id)
        seen = {model_id}
        chosen: str | None = None
        while info is not None and info.successor and info.successor not in seen:
            chosen = info.successor
            seen.add(chosen)
            nxt = self.find(chosen)
            if nxt is None or _stage(nxt, horizon)[0] is Stage.CURRENT:
                break
            info = nxt
        return chosen


def _stage(info: PublisherModelInfo, horizon: Horizon) -> tuple[Stage, int | None]:
    if info.retires is None:
        return Stage.CURRENT, None
    days = (info.retires - horizon.today).days
    if days < 0:
        return Stage.RETIRED, days
    if days <= horizon.within_days:
        return Stage.RETIRING, days
    return Stage.CURRENT, days


def lifecycle_of(model_id: str, horizon: Horizon, catalogue: ModelCatalogue | None = None) -> Lifecycle:
    """Judge `model_id` (a plain id or alias such as `gemini-2.0-flash`; see `model_id_of`) on the horizon's
    day against `catalogue` (default: the bundled one)."""
    cat = catalogue or model_catalogue()
    info = cat.find(model_id)
    if info is None:
        return Lifecycle(model_id, Stage.UNKNOWN)
    stage, days = _stage(info, horizon)
    successor = cat.successor_of(model_id, horizon) if stage is not Stage.CURRENT else info.successor
    return Lifecycle(model_id, stage, info, days, successor)


def parse_day(text: str, where: str = "today") -> date:
    """`2026-02-06` -> a date; ValueError naming `where` and the expected form (`--today`, GENAIOPS_TODAY,
    the emulator's SetToday all read a day with this)."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{where} must be a day as YYYY-MM-DD, got {text!r}") from None


def model_id_of(ref: str) -> str | None:
    """The Google publisher model id a reference names: `publishers/google/models/gemini-2.0-flash@x`,
    `projects/p/locations/l/publishers/google/models/gemini-2.0-flash` or a bare `gemini-2.0-flash-001`
    (a TuningJob's baseModel) -> `gemini-2.0-flash[-001]`; None for anything else (a Model or TuningJob name,
    another publisher's model)."""
    head, marker, tail = ref.partition(PUBLISHER_PREFIX)
    if marker:
        if head and not head.startswith("projects/"):
            return None
        return tail.split("@", 1)[0].split(";", 1)[0].split("?", 1)[0] or None
    if "/" in ref:
        return None
    return ref if ref.startswith("gemini-") else None


# --- The bundled file -------------------------------------------------------------------------------------


def models_text() -> str:
    """The bundled catalogue file's text."""
    return resources.files("controller.model.catalogue").joinpath(MODELS_FILE).read_text(encoding="utf-8")


def _date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CatalogueError(f"{where} must be a date YYYY-MM-DD, not {value!r}") from None


def _row(model_id: str, spec: Any, sources: Mapping[str, ModelSource]) -> PublisherModelInfo:
    where = f"models.{model_id}"
    if not isinstance(spec, Mapping):
        raise CatalogueError(f"{where} must be a mapping")
    unknown = sorted(set(map(str, spec)) - _ROW_KEYS)
    if unknown:
        raise CatalogueError(f"{where} has unknown keys: {', '.join(unknown)}")
    source = str(spec.get("source", ""))
    if source not in sources:
        raise CatalogueError(f"{where}.source {source!r} is not one of the sources")
    aliases = spec.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise CatalogueError(f"{where}.aliases must be a list of model ids")
    window = spec.get("context_window")
    if window is not None and (not isinstance(window, int) or window < 1):
        raise CatalogueError(f"{where}.context_window must be a positive whole number")
    tuning = spec.get("tuning")
    if tuning is not None and not isinstance(tuning, bool):
        raise CatalogueError(f"{where}.tuning must be true or false")
    released, retires = _date(spec.get("released"), f"{where}.released"), _date(spec.get("retires"), f"{where}.retires")
    if released is not None and retires is not None and retires < released:
        raise CatalogueError(f"{where}: retires before it is released")
    return PublisherModelInfo(
        model_id=model_id,
        family=str(spec.get("family", model_id)),
        aliases=tuple(aliases),
        released=released,
        retires=retires,
        successor=str(spec["successor"]) if spec.get("successor") else None,
        context_window=window,
        tuning=tuning,
        confirmed=bool(spec.get("confirmed", True)),
        source=source,
        note=str(spec.get("note", "") or ""),
    )


def parse_models(document: Any) -> ModelCatalogue:
    """A `ModelCatalogue` from the loaded YAML document; CatalogueError names the first malformed part."""
    if not isinstance(document, Mapping):
        raise CatalogueError("the model catalogue must be a mapping")
    raw_sources = document.get("sources")
    if not isinstance(raw_sources, Mapping) or not raw_sources:
        raise CatalogueError("sources must be a non-empty mapping")
    sources: dict[str, ModelSource] = {}
    for key, spec in raw_sources.items():
        if not isinstance(spec, Mapping) or not spec.get("url"):
            raise CatalogueError(f"sources.{key} must be a mapping with a url")
        read, what = str(spec.get("read", "")), str(spec.get("what", ""))
        sources[str(key)] = ModelSource(str(key), str(spec["url"]), read, what)
    raw_models = document.get("models")
    if not isinstance(raw_models, Mapping) or not raw_models:
        raise CatalogueError("models must be a non-empty mapping")
    models = {str(model_id): _row(str(model_id), spec, sources) for model_id, spec in raw_models.items()}
    names: dict[str, str] = {}
    for row in models.values():
        for name in (row.model_id, *row.aliases):
            if name in names:
                raise CatalogueError(f"models.{row.model_id}: {name!r} is also models.{names[name]}")
            names[name] = row.model_id
    for row in models.values():
        if row.successor is not None and row.successor not in names:
            raise CatalogueError(f"models.{row.model_id}.successor {row.successor!r} is not in the catalogue")
    return ModelCatalogue(str(document.get("read_on", "")), sources, models)


@cache
def model_catalogue() -> ModelCatalogue:
    """The bundled catalogue (read once)."""
    return parse_models(yaml.safe_load(models_text()))
