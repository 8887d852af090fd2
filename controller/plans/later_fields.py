"""Plan-file fields added after format 1 was first written (the serving settings of issue 17): written only
when they hold something other than their default, and read back into their types. A plan that does not
use them is byte for byte what it always was, and a plan file written before they existed still loads.

Beside `operations` (which uses it for `to_json` / `from_json`); it knows the operations by name only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from controller.observed import (
    DeploymentSpec,
    EndpointSettings,
    ExplanationParameters,
    RequestLogging,
    ReservationAffinity,
)

# Type name -> its fields added after format 1, left out while they hold their default.
LATER_FIELDS: dict[str, tuple[str, ...]] = {
    "DeploymentSpec": ("autoscaling", "spot", "reservation", "explanation"),
    "CreateEndpoint": ("settings",),
    "MutateDeployedModel": ("autoscaling", "disable_container_logging"),
    "EndpointSettings": tuple(f.name for f in dataclasses.fields(EndpointSettings)),
}


def _defaults(kind: type[Any]) -> dict[str, Any]:
    return {
        f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        for f in dataclasses.fields(kind)
        if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    }


def written(value: Any) -> dict[str, Any]:
    """A dataclass as JSON-ready data (`dataclasses.asdict`), without its later fields that hold their
    default; a later field that is itself such a dataclass is written the same way."""
    body: dict[str, Any] = dataclasses.asdict(value)
    later = LATER_FIELDS.get(type(value).__name__, ())
    defaults = _defaults(type(value))
    for name in later:
        item = getattr(value, name)
        if name in defaults and item == defaults[name]:
            del body[name]
        elif type(item).__name__ in LATER_FIELDS:
            body[name] = written(item)
    return body


def _targets(pairs: Any) -> tuple[tuple[str, int], ...]:
    return tuple((str(name), int(target)) for name, target in pairs)


def spec_from_json(spec: dict[str, Any]) -> DeploymentSpec:
    """A deployment spec from its JSON fields (field names as in `DeploymentSpec`)."""
    body = dict(spec)
    if "autoscaling" in body:
        body["autoscaling"] = _targets(body["autoscaling"])
    if body.get("reservation") is not None:
        r = dict(body["reservation"])
        body["reservation"] = ReservationAffinity(**{**r, "values": tuple(r.get("values", ()))})
    if body.get("explanation") is not None:
        body["explanation"] = ExplanationParameters(**body["explanation"])
    return DeploymentSpec(**body)


def _settings(data: dict[str, Any]) -> EndpointSettings:
    body = dict(data)
    if body.get("logging") is not None:
        body["logging"] = RequestLogging(**body["logging"])
    body["psc_project_allowlist"] = tuple(body.get("psc_project_allowlist", ()))
    return EndpointSettings(**body)


def later_from_json(kind: str, fields: dict[str, Any]) -> None:
    """Rebuild, in place, the nested values of the later fields of operation `kind`'s JSON fields."""
    if kind == "CreateEndpoint" and "settings" in fields:
        fields["settings"] = _settings(fields["settings"])
    if kind == "MutateDeployedModel" and fields.get("autoscaling") is not None:
        fields["autoscaling"] = _targets(fields["autoscaling"])
    if kind == "SetRequestLogging" and fields.get("logging") is not None:
        fields["logging"] = RequestLogging(**fields["logging"])


__all__ = ["LATER_FIELDS", "later_from_json", "spec_from_json", "written"]
