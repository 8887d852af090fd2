"""Building blocks shared by every manifest kind: the frozen base model, names, durations, metadata.

Manifests are written in camelCase YAML; the Python side uses snake_case through pydantic aliases.
Every model is frozen and forbids unknown fields, so a typo is an error, never silently ignored. Numbers
and booleans are strict (`StrictInt`, `StrictFloat`, `StrictBool`): `"100"` is text, not a number, and is
refused rather than guessed at. Durations are bounded (`MAX_DURATION_S`), and label keys genaiops writes
for itself (`managed-by`, `genaiops-*`) cannot be set by a manifest.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic.alias_generators import to_camel

from controller.model.catalogue import region_problem, vertex_catalogue

API_VERSION = "genaiops/v1"
MANAGED_BY_LABEL = "managed-by"
MANAGED_BY_VALUE = "genaiops"
RESERVED_LABEL_PREFIX = "genaiops-"  # labels genaiops writes for itself (rollout state, spec hash, retain...)

MAX_DURATION_S = 30 * 24 * 3600  # 30 days: longer is a typo, and would overflow timers downstream
MAX_DURATION_TEXT = "720h (30 days)"

StrictInt = Annotated[int, Strict()]
StrictFloat = Annotated[float, Strict()]  # strict floats still accept integers (`max: 1`)
StrictBool = Annotated[bool, Strict()]

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
# A resource ID Vertex AI generated (an endpoint or model made outside genaiops, then imported): only an
# Endpoint or a Model manifest may carry one as its name (the loader checks), and only for a resource that
# exists (the planner refuses to create one: Vertex AI does not take 19-digit IDs from callers).
GENERATED_ID_PATTERN = r"^[1-9][0-9]{0,18}$"
NAME_OR_ID_PATTERN = r"^(?:[a-z][a-z0-9-]{0,62}|[1-9][0-9]{0,18})$"  # what metadata.name takes
_DURATION_RE = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
MAX_LABELS = 64


class Frozen(BaseModel):
    """Base of every manifest model: immutable, strict about unknown fields, camelCase in YAML."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        str_strip_whitespace=False,
    )


def duration_seconds(text: str) -> float:
    """Seconds in a duration string such as `30s`, `5m`, `1h30m` or `250ms`."""
    match = _DURATION_RE.match(text)
    if match is None or not text:
        raise ValueError(f"invalid duration {text!r}: expected a number with a unit, such as 30s, 5m or 1h")
    hours, minutes, seconds, millis = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def check_duration(text: str, *, minimum_s: float = 0.0) -> str:
    """`text` if it is a duration between `minimum_s` and 30 days; else ValueError saying which bound."""
    seconds = duration_seconds(text)
    if seconds > MAX_DURATION_S:
        raise ValueError(f"duration {text!r} is too long: at most {MAX_DURATION_TEXT}")
    if seconds < minimum_s:
        raise ValueError(f"duration {text!r} is too short: at least {minimum_s:g}s")
    return text


def _check_duration(text: str) -> str:
    return check_duration(text)


def _check_interval(text: str) -> str:
    return check_duration(text, minimum_s=1)


def _duration_is_text(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}: a duration needs a unit, such as {value}s, 5m or 1h")
    return value


Duration = Annotated[
    str,
    BeforeValidator(_duration_is_text),
    AfterValidator(_check_duration),
    Field(
        pattern=r"^(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$",
        min_length=2,
        description="A duration with a unit: 250ms, 30s, 5m, 1h or combinations such as 1h30m; "
        f"at most {MAX_DURATION_TEXT}.",
        examples=["30s", "5m", "1h"],
    ),
]

Interval = Annotated[
    str,
    BeforeValidator(_duration_is_text),
    AfterValidator(_check_interval),
    Field(
        pattern=r"^(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$",
        min_length=2,
        description=f"How often to measure: a duration of at least 1s and at most {MAX_DURATION_TEXT}, such as 1m.",
        examples=["30s", "1m"],
    ),
]

ResourceName = Annotated[
    str,
    Field(
        pattern=NAME_OR_ID_PATTERN,
        description="Lowercase letters, digits and '-', starting with a letter, at most 63 characters. "
        "Becomes the Vertex AI resource ID. An imported Endpoint or Model may instead carry the numeric ID "
        "Vertex AI generated for it.",
    ),
]


def _check_region(region: str) -> str:
    """A region that serves Vertex AI prediction (the bundled catalogue), else one message with the nearest."""
    problem = region_problem(region)
    if problem is not None:
        raise ValueError(problem)
    return region


Region = Annotated[
    str,
    AfterValidator(_check_region),
    Field(
        description="A region that serves Vertex AI prediction, such as us-central1 or europe-west4 "
        f"(genaiops' catalogue of {vertex_catalogue().read_on}).",
        examples=["us-central1", "europe-west4"],
        json_schema_extra={"enum": list(vertex_catalogue().regions)},
    ),
]


def is_reserved_label(key: str) -> bool:
    """True for label keys genaiops writes itself: `managed-by` and every `genaiops-*` key."""
    return key == MANAGED_BY_LABEL or key.startswith(RESERVED_LABEL_PREFIX)


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels are allowed (got {len(labels)})")
    reserved = [key for key in labels if is_reserved_label(key)]
    if reserved:
        keys = ", ".join(repr(key) for key in reserved)
        raise ValueError(
            f"label key{'s' if len(reserved) > 1 else ''} {keys} {'are' if len(reserved) > 1 else 'is'} reserved: "
            f"genaiops writes {MANAGED_BY_LABEL!r} and every {RESERVED_LABEL_PREFIX}* label itself "
            "(ownership, rollout state); choose another key"
        )
    for key, value in labels.items():
        if not _LABEL_KEY_RE.match(key):
            raise ValueError(
                f"label key {key!r} must start with a lowercase letter and hold at most 63 lowercase "
                "letters, digits, '_' or '-'"
            )
        if not _LABEL_VALUE_RE.match(value):
            raise ValueError(
                f"label value {value!r} (key {key!r}) may hold at most 63 lowercase letters, digits, '_' or '-'"
            )
    return labels


Labels = Annotated[dict[str, str], AfterValidator(_check_labels)]

DeletionPolicy = Literal["delete", "retain"]


class Metadata(Frozen):
    """Identity of a manifest: `name` is the resource ID in Vertex AI; labels are copied onto it."""

    name: ResourceName
    labels: Labels = Field(default_factory=dict)
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Free-form notes for humans and tools; never sent to Vertex AI."
    )
