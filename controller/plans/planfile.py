"""Saved plans: `genaiops plan --out FILE` writes one, `genaiops apply FILE` reads it back.

A planfile is a versioned JSON document (format `genaiops-plan`, version 1) holding the whole Plan value:
every resource change with its ordered operations, the fingerprint of the live state it was computed
from (so that apply can refuse a stale plan), the target, notes and diagnostics, the cost it was reviewed
with (`cost`, only when priced: older files without it still load), the environment it was made for
(`environment`, only with `--env`: its name, file, settings and the values it set with their origin),
plus the digest of the manifests it was planned from. A SHA-256 checksum over the plan body catches a
file edited or damaged after it was written: apply runs the operations in the file, so it must run exactly
what was reviewed.

Loading never lets a Python exception escape for a bad file: a missing, unreadable, corrupt, tampered or
unknown-version file raises `UserError` with a message that says what to do. Reading is bounded: a file
larger than `MAX_PLANFILE_BYTES`, anything but a regular file (a FIFO would block, a device never end)
and JSON nested deeper than `MAX_PLANFILE_DEPTH` are refused before they are parsed (Python's JSON parser
recurses, and 200,000 nested `[` would overflow its stack).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller import __version__
from controller.diagnostics import Diagnostic, Severity, Source
from controller.errors import UserError
from controller.model import Endpoint, Override, Prompt
from controller.plans.costs import cost_from_json, cost_to_json
from controller.plans.operations import from_json, to_json
from controller.plans.plan import Action, FieldChange, Health, HealthState, Plan, ResourceChange, TextDiff

PLANFILE_FORMAT = "genaiops-plan"
PLANFILE_VERSION = 1
MAX_PLANFILE_BYTES = 50 * 1024 * 1024
# A plan holds manifests (whose YAML may nest 64 levels) a few levels down: room for those, no more.
MAX_PLANFILE_DEPTH = 128
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')  # a whole string, or a bracket


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back from a file, with what it was planned from."""

    plan: Plan
    manifests_digest: str
    created_at: str
    genaiops_version: str


# --- encoding -------------------------------------------------------------------------------------------


def change_to_json(change: ResourceChange) -> dict[str, Any]:
    """One resource change as plain JSON data (also used by the `--output json` view)."""
    return {
        "address": change.address,
        "kind": change.kind,
        "name": change.name,
        "region": change.region,
        "action": change.action.value,
        "before": _plain(change.before),
        "after": _plain(change.after),
        "changes": [{"path": c.path, "before": _plain(c.before), "after": _plain(c.after)} for c in change.changes],
        "operations": [to_json(op) for op in change.operations],
        "reasons": list(change.reasons),
        "drift": change.drift,
        "sync": change.sync.value,
        "suspended": change.suspended,
        "health": {"state": change.health.state.value, "reason": change.health.reason},
        "text_diffs": [{"path": d.path, "unified": d.unified} for d in change.text_diffs],
    }


def diagnostic_from_json(data: Mapping[str, Any]) -> Diagnostic:
    """Inverse of `Diagnostic.to_json`."""
    return Diagnostic(
        summary=str(data["summary"]),
        source=Source(str(data["file"]), int(data["line"]), int(data["column"])),
        path=str(data["path"]),
        severity=Severity(data["severity"]),
        detail=str(data["detail"]),
    )


def plan_body(plan: Plan) -> dict[str, Any]:
    """The whole Plan value as JSON data, in a fixed key order."""
    return {
        "target": plan.target,
        "changes": [change_to_json(c) for c in plan.changes],
        "fingerprint": dict(sorted(plan.fingerprint.items())),
        "notes": list(plan.notes),
        "diagnostics": [d.to_json() for d in plan.diagnostics],
        "endpoints": [e.model_dump(mode="json", by_alias=True, exclude_none=True) for e in plan.endpoints],
        **({"prompts": [_prompt_json(p) for p in plan.prompts]} if plan.prompts else {}),
        **({"cost": cost_to_json(plan.cost)} if plan.cost is not None else {}),
        **({"environment": environment_to_json(plan)} if plan.environment else {}),
    }


def override_to_json(override: Override) -> dict[str, Any]:
    """One value an environment set, as plain JSON data."""
    return {
        "kind": override.kind,
        "name": override.name,
        "path": override.path,
        "value": _json_value(override.value),
        "file": override.file,
        "line": override.line,
        "column": override.column,
        "origin": override.origin,
    }


def environment_to_json(plan: Plan) -> dict[str, Any]:
    """The environment a plan was made for: its name, file, settings and the values it set."""
    return {
        "name": plan.environment,
        "file": plan.environment_file,
        "settings": dict(plan.environment_settings),
        "overrides": [override_to_json(o) for o in plan.overrides],
    }


def _override_from_json(data: Mapping[str, Any]) -> Override:
    return Override(
        kind=str(data["kind"]),
        name=str(data["name"]),
        path=str(data["path"]),
        value=data["value"],
        file=str(data["file"]),
        line=int(data["line"]),
        column=int(data["column"]),
    )


def _prompt_json(prompt: Prompt) -> dict[str, Any]:
    """A canary Prompt as the driver needs it from a saved plan: its name, labels and rollout (the content
    was published at apply; it is not repeated here)."""
    spec = prompt.spec.model_dump(mode="json", by_alias=True, exclude_none=True, include={"labels", "rollout", "model"})
    return {
        "apiVersion": prompt.api_version,
        "kind": prompt.kind,
        "metadata": prompt.metadata.model_dump(mode="json", by_alias=True, exclude_none=True),
        "spec": {**spec, "template": ""},
    }


def _plain(value: Any) -> Any:
    """Mappings become dicts and tuples lists, recursively (what json.dumps would produce)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _json_value(value: Any) -> Any:
    """A YAML value as JSON data: a YAML timestamp (JSON has no such type) becomes its text."""
    value = _plain(value)
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def _checksum(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def save_plan(plan: Plan, path: str | os.PathLike[str], *, manifests_digest: str, created_at: str) -> None:
    """Write `plan` to `path` atomically (a reader never sees half a file). Raises UserError when the file
    cannot be written."""
    body = plan_body(plan)
    document = {
        "format": PLANFILE_FORMAT,
        "version": PLANFILE_VERSION,
        "genaiops_version": __version__,
        "created_at": created_at,
        "manifests_digest": manifests_digest,
        "checksum": _checksum(body),
        "plan": body,
    }
    target = Path(path)
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        raise UserError(f"cannot write plan file {target}: {err.strerror or err}") from err


# --- decoding -------------------------------------------------------------------------------------------


def _change_from_json(data: Mapping[str, Any]) -> ResourceChange:
    return ResourceChange(
        kind=str(data["kind"]),
        name=str(data["name"]),
        region=str(data["region"]),
        action=Action(data["action"]),
        before=_mapping_or_none(data["before"]),
        after=_mapping_or_none(data["after"]),
        changes=tuple(FieldChange(str(c["path"]), c["before"], c["after"]) for c in data["changes"]),
        operations=tuple(from_json(op) for op in data["operations"]),
        reasons=tuple(str(r) for r in data["reasons"]),
        drift=bool(data.get("drift", False)),
        suspended=bool(data.get("suspended", False)),
        health=Health(
            HealthState(data.get("health", {}).get("state", "healthy")), str(data.get("health", {}).get("reason", ""))
        ),
        text_diffs=tuple(TextDiff(str(d["path"]), str(d["unified"])) for d in data.get("text_diffs", ())),
    )


def _mapping_or_none(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected an object or null, got {type(value).__name__}")
    return value


def plan_from_body(body: Mapping[str, Any]) -> Plan:
    """Inverse of `plan_body`; raises KeyError, TypeError or ValueError on malformed data."""
    fingerprint = body["fingerprint"]
    if not isinstance(fingerprint, dict):
        raise TypeError("fingerprint must be an object")
    return Plan(
        changes=tuple(_change_from_json(c) for c in body["changes"]),
        fingerprint={str(k): str(v) for k, v in fingerprint.items()},
        notes=tuple(str(n) for n in body["notes"]),
        diagnostics=tuple(diagnostic_from_json(d) for d in body["diagnostics"]),
        target=str(body["target"]),
        endpoints=tuple(Endpoint.model_validate(e) for e in body.get("endpoints", ())),
        prompts=tuple(Prompt.model_validate(p) for p in body.get("prompts", ())),
        cost=cost_from_json(body["cost"]) if body.get("cost") is not None else None,
        **_environment_from_json(body.get("environment")),
    )


def _environment_from_json(data: Any) -> dict[str, Any]:
    """Plan fields of the `environment` object (none for a plan made without `--env`)."""
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("settings", {}), dict):
        raise TypeError("environment must be an object with settings as an object")
    return {
        "environment": str(data["name"]),
        "environment_file": str(data.get("file", "")),
        "environment_settings": {str(k): str(v) for k, v in data.get("settings", {}).items()},
        "overrides": tuple(_override_from_json(o) for o in data.get("overrides", ())),
    }


def _read_bytes(target: Path) -> bytes:
    """The file's bytes, if it is a regular file of at most MAX_PLANFILE_BYTES (opened without blocking)."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError as err:
        raise UserError(f"plan file {target} not found; create one with `genaiops plan --out {target}`") from err
    except IsADirectoryError as err:
        raise UserError(f"plan file {target} is a directory, not a file") from err
    except OSError as err:
        raise UserError(f"cannot read plan file {target}: {err.strerror or err}") from err
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UserError(f"plan file {target} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UserError(f"plan file {target} is not a regular file (a FIFO or a device); give a saved plan")
        if info.st_size > MAX_PLANFILE_BYTES:
            raise UserError(
                f"plan file {target} is {info.st_size / 1024 / 1024:.1f} MiB; "
                f"plan files are limited to {MAX_PLANFILE_BYTES // 1024 // 1024} MiB"
            )
        with os.fdopen(os.dup(fd), "rb") as stream:
            data = stream.read(MAX_PLANFILE_BYTES + 1)
    except OSError as err:
        raise UserError(f"cannot read plan file {target}: {err.strerror or err}") from err
    finally:
        os.close(fd)
    if len(data) > MAX_PLANFILE_BYTES:
        raise UserError(f"plan file {target} is larger than {MAX_PLANFILE_BYTES // 1024 // 1024} MiB")
    return data


def _nesting(text: str) -> tuple[int, int]:
    """The deepest nesting of JSON arrays and objects in `text` (strings skipped), and where it first
    exceeds MAX_PLANFILE_DEPTH (a character offset, -1 if it never does)."""
    depth = deepest = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if depth > MAX_PLANFILE_DEPTH:
                    return deepest, match.start()
        elif token in "]}":
            depth -= 1
    return deepest, -1


def _read_document(target: Path) -> dict[str, Any]:
    data = _read_bytes(target)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"plan file {target} is not a genaiops plan (not UTF-8 text)") from err
    _, too_deep_at = _nesting(text)
    if too_deep_at >= 0:
        line = text.count("\n", 0, too_deep_at) + 1
        raise UserError(
            f"plan file {target} is not a genaiops plan: its JSON nests deeper than {MAX_PLANFILE_DEPTH} levels "
            f"(line {line}); run `genaiops plan --out` again"
        )
    try:
        document = json.loads(text)
    except RecursionError as err:  # a safety net: the depth check above should make this unreachable
        raise UserError(f"plan file {target} is nested too deeply to read; run `genaiops plan --out` again") from err
    except json.JSONDecodeError as err:
        raise UserError(
            f"plan file {target} is corrupt (invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}); "
            "run `genaiops plan --out` again"
        ) from err
    if not isinstance(document, dict) or document.get("format") != PLANFILE_FORMAT:
        raise UserError(f'{target} is not a genaiops plan file (no "format": "{PLANFILE_FORMAT}")')
    return document


def load_plan(path: str | os.PathLike[str]) -> SavedPlan:
    """Read a plan written by `save_plan`. Raises UserError (with a clear message) for a missing, corrupt,
    modified or unknown-version file."""
    target = Path(path)
    document = _read_document(target)
    version = document.get("version")
    if version != PLANFILE_VERSION:
        raise UserError(
            f"plan file {target} has format version {version!r}, but genaiops {__version__} reads version "
            f"{PLANFILE_VERSION} only; run `genaiops plan --out {target}` again with this version"
        )
    body = document.get("plan")
    if not isinstance(body, dict) or document.get("checksum") != _checksum(body):
        raise UserError(
            f"plan file {target} was modified or damaged after it was written (checksum mismatch); "
            "run `genaiops plan --out` again"
        )
    try:
        plan = plan_from_body(body)
        return SavedPlan(
            plan=plan,
            manifests_digest=str(document["manifests_digest"]),
            created_at=str(document["created_at"]),
            genaiops_version=str(document["genaiops_version"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        detail = f"missing field {err}" if isinstance(err, KeyError) else str(err)
        raise UserError(f"plan file {target} is malformed ({detail}); run `genaiops plan --out` again") from err


__all__ = [
    "MAX_PLANFILE_BYTES",
    "MAX_PLANFILE_DEPTH",
    "PLANFILE_FORMAT",
    "PLANFILE_VERSION",
    "SavedPlan",
    "change_to_json",
    "environment_to_json",
    "load_plan",
    "override_to_json",
    "plan_body",
    "plan_from_body",
    "save_plan",
]
