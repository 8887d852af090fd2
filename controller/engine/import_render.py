"""How `genaiops import` writes a manifest: the draft of one resource, its stable YAML rendering, and the
validation every draft passes before it is written (the manifest kinds' own pydantic models).

Files are rendered stably (fixed key order, sorted labels and deployments, names in double quotes so a
numeric ID stays text, multi-line text as literal blocks), so a second import of the same state writes the
same bytes. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from controller.model import API_VERSION
from controller.observed import address


class CannotImportError(Exception):
    """A resource no manifest can describe as it is; the message says why and the way around it."""


class Quoted(str):
    """A string written in double quotes (names and IDs: `"123"` must stay text, not become a number)."""

    __slots__ = ()


@dataclass(frozen=True)
class Draft:
    """The manifest of one resource: its document and the files to write (the manifest first; a prompt's
    template file after it), by name relative to the output directory."""

    kind: str
    region: str
    name: str
    document: Mapping[str, Any]
    files: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        """`Endpoint/us-central1/123`."""
        return address(self.kind, self.region, self.name)


def file_name(kind: str, region: str, name: str) -> str:
    """`endpoint-us-central1-123.yaml`; a prompt (global) is `prompt-NAME.yaml`."""
    if kind == "Prompt":
        return f"prompt-{name}.yaml"
    return f"{kind.lower()}-{region}-{name}.yaml"


class _Dumper(yaml.SafeDumper):
    """Block style, names double-quoted, multi-line text as literal blocks."""


def _represent_quoted(dumper: yaml.SafeDumper, data: Quoted) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style='"')


def _represent_text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(Quoted, _represent_quoted)
_Dumper.add_representer(str, _represent_text)


def plain(value: Any) -> Any:
    """Tuples as lists, recursively (YAML has no tuples)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def render(document: Mapping[str, Any], *, header: str) -> str:
    """The YAML text of one manifest, after a comment line."""
    body = yaml.dump(
        plain(document), Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=110
    )
    return f"# {header}\n{body}"


def envelope(kind: str, name: str, labels: Mapping[str, str], spec: Mapping[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": Quoted(name)}
    if labels:
        metadata["labels"] = dict(sorted(labels.items()))
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": dict(spec)}


def validated(kind: type[BaseModel], document: Mapping[str, Any]) -> None:
    """CannotImportError with pydantic's first complaints when the document is not a valid manifest."""
    try:
        kind.model_validate(plain(document))
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg'].removeprefix('Value error, ')}"
            for e in err.errors()[:3]
        ]
        raise CannotImportError("its manifest would not be valid: " + "; ".join(problems)) from err
