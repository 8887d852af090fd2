"""`genaiops env list` and `genaiops env show`: the environments, and the manifests one makes, like
`kustomize build`.

`env show` prints every merged manifest with each leaf value annotated with where it came from:
`base FILE:LINE:COL` (the manifests' own files), `NAME FILE:LINE:COL` (the environment NAME's file: a label
it adds, a value a patch sets, its region or budget), or `default` (a value no file wrote, such as a
region the `--region` default gave). As YAML (the origin in a trailing comment) or as a versioned JSON
document (the values, and the origins by field path). The loader did the merge; this only renders.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from controller.loader.checks import Located
from controller.loader.errors import format_path
from controller.loader.yaml_source import Path
from controller.model import Override

FORMAT_VERSION = "1.0"
BASE = "base"
DEFAULT = "default"
_COMMENT_COLUMN_MAX = 72
_SETTING_NAMES = {"project": "project", "region": "region", "lockBucket": "lock bucket", "promptStore": "prompt store"}


@dataclass(frozen=True)
class EnvironmentInfo:
    """What `env list` and the header of `env show` say about one environment."""

    name: str
    file: str
    settings: Mapping[str, str]  # project, region, lockBucket, promptStore: those it sets
    description: str = ""
    values: int = 0  # how many manifest values it sets
    problems: int = 0  # errors a load with it reports (`genaiops validate` lists them)


def environment_text(name: str, file: str, settings: Mapping[str, str]) -> str:
    """`Environment prod (manifests/environments/prod.yaml): project acme-genai-prod, region europe-west4`."""
    where = f" ({file})" if file else ""
    shown = ", ".join(f"{_SETTING_NAMES.get(k, k)} {v}" for k, v in settings.items())
    return f"Environment {name}{where}" + (f": {shown}" if shown else "")


@dataclass(frozen=True)
class Origin:
    """Where one value came from: `base`, the environment's name, or `default`; and its file:line:col."""

    source: str
    where: str = ""

    def text(self) -> str:
        """`prod manifests/environments/prod.yaml:14:11`."""
        return f"{self.source} {self.where}" if self.where else self.source


def _document(item: Located) -> dict[str, Any]:
    """A manifest as the fields its (merged) document set, camelCase as in the files."""
    dumped: dict[str, Any] = item.manifest.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return dumped


def origin_of(item: Located, path: Path, *, env: str, overrides: Mapping[str, Override]) -> Origin:
    """Where the value at `path` of a merged manifest came from. A position the loader kept is the answer
    (in the environment's file when the overlay set the value); a value with none is the environment's
    when it recorded an override for that path (its region), else a default."""
    where = item.positions.values.get(path)
    if where is not None:
        file = item.positions.file_of(path, item.file)
        return Origin(env if file != item.file else BASE, f"{file}:{where[0]}:{where[1]}")
    override = overrides.get(format_path(path))
    if override is not None:
        return Origin(env, override.origin)
    return Origin(DEFAULT)


def _leaves(value: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _leaves(child, (*path, key))
    elif isinstance(value, list) and value:
        for index, child in enumerate(value):
            yield from _leaves(child, (*path, index))
    else:
        yield path, value


def _scalar(value: Any) -> str:
    """A leaf as YAML text on one line (strings quoted when YAML would read them otherwise)."""
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    if isinstance(value, str) and ("\n" in value or not value.isprintable()):
        return json.dumps(value, ensure_ascii=False)
    text: str = yaml.safe_dump(value, default_flow_style=True, width=1_000_000, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


class _YamlLines:
    """Block YAML of one manifest, each leaf line carrying its origin as a comment."""

    def __init__(self, origin: Callable[[Path], Origin]) -> None:
        self.origin = origin
        self.lines: list[tuple[str, str]] = []  # (text, comment)

    def entry(self, key: str, value: Any, path: Path, indent: int) -> None:
        """`key: value` of a mapping, at `indent`."""
        pad = " " * indent
        if isinstance(value, dict) and value:
            self.lines.append((f"{pad}{_scalar(key)}:", ""))
            for child_key, child in value.items():
                self.entry(child_key, child, (*path, child_key), indent + 2)
        elif isinstance(value, list) and value:
            self.lines.append((f"{pad}{_scalar(key)}:", ""))
            for index, child in enumerate(value):
                self.item(child, (*path, index), indent + 2)
        else:
            self.lines.append((f"{pad}{_scalar(key)}: {_scalar(value)}", self.origin(path).text()))

    def item(self, value: Any, path: Path, indent: int) -> None:
        """`- value` of a list, at `indent` (a mapping's first entry shares the dash's line)."""
        pad = " " * indent
        if isinstance(value, dict) and value:
            for number, (key, child) in enumerate(value.items()):
                start = len(self.lines)
                self.entry(key, child, (*path, key), indent + 2)
                if number == 0:
                    text, comment = self.lines[start]
                    self.lines[start] = (f"{pad}- {text[indent + 2 :]}", comment)
        elif isinstance(value, list) and value:
            self.lines.append((f"{pad}-", ""))
            for index, child in enumerate(value):
                self.item(child, (*path, index), indent + 2)
        else:
            self.lines.append((f"{pad}- {_scalar(value)}", self.origin(path).text()))

    def text(self) -> str:
        """The lines, comments aligned (up to a column, so one long line does not push every comment)."""
        width = min(max((len(t) for t, c in self.lines if c), default=0), _COMMENT_COLUMN_MAX)
        return "\n".join(f"{t.ljust(width)}  # {c}" if c else t for t, c in self.lines)


def _overrides_of(item: Located, overrides: Sequence[Override]) -> dict[str, Override]:
    kind, name = item.manifest.kind, item.manifest.metadata.name
    return {o.path: o for o in overrides if o.kind == kind and o.name == name}


def _origins(item: Located, env: str, overrides: Sequence[Override], env_file: str) -> Callable[[Path], Origin]:
    """The origin of each path of `item`; a manifest the environment declares itself (its budget) has
    every value from the environment's file."""
    own = _overrides_of(item, overrides)
    declared_by_env = bool(env_file) and item.file == env_file

    def origin(path: Path) -> Origin:
        found = origin_of(item, path, env=env, overrides=own)
        if declared_by_env and found.source == BASE:
            return Origin(env, found.where)
        return found

    return origin


def merged_yaml(info: EnvironmentInfo, items: Sequence[Located], overrides: Sequence[Override]) -> str:
    """The merged manifests as YAML documents, every leaf annotated with its origin."""
    parts = [f"# {environment_text(info.name, info.file, info.settings)}"]
    for item in items:
        lines = _YamlLines(_origins(item, info.name, overrides, info.file))
        document = _document(item)
        for key, child in document.items():
            lines.entry(key, child, (key,), 0)
        parts.append(f"---\n# {item.manifest.kind}/{item.manifest.metadata.name} from {item.file}\n{lines.text()}")
    return "\n".join(parts)


def merged_json(info: EnvironmentInfo, items: Sequence[Located], overrides: Sequence[Override]) -> str:
    """`{"format_version", "environment": {name, file, settings}, "manifests": [{kind, name, file, manifest,
    origins: {field path: {source, origin}}}]}`."""
    manifests = []
    for item in items:
        origin = _origins(item, info.name, overrides, info.file)
        document = _document(item)
        origins = {}
        for path, _ in _leaves(document, ()):
            found = origin(path)
            origins[format_path(path)] = {"source": found.source, "origin": found.where}
        manifests.append(
            {
                "kind": item.manifest.kind,
                "name": item.manifest.metadata.name,
                "file": item.file,
                "manifest": document,
                "origins": origins,
            }
        )
    body = {
        "format_version": FORMAT_VERSION,
        "environment": {"name": info.name, "file": info.file, "settings": dict(info.settings)},
        "manifests": manifests,
    }
    return json.dumps(body, indent=2, ensure_ascii=False)


def environments_text(infos: Sequence[EnvironmentInfo]) -> str:
    """One block per environment: its line, description, how many values it sets, problems."""
    if not infos:
        return "No Environment manifests: add one under environments/ (docs/environments.md)."
    blocks = []
    for info in infos:
        lines = [environment_text(info.name, info.file, info.settings)]
        if info.description:
            lines.append(f"  {info.description}")
        lines.append(f"  {info.values} manifest value{'s' if info.values != 1 else ''} set")
        if info.problems:
            lines.append(f"  {info.problems} problem{'s' if info.problems != 1 else ''}: run genaiops validate")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def environments_json(infos: Sequence[EnvironmentInfo]) -> str:
    """`{"format_version", "environments": [{name, file, description, settings, values, problems}]}`."""
    rows = [
        {
            "name": i.name,
            "file": i.file,
            "description": i.description,
            "settings": dict(i.settings),
            "values": i.values,
            "problems": i.problems,
        }
        for i in infos
    ]
    return json.dumps({"format_version": FORMAT_VERSION, "environments": rows}, indent=2, ensure_ascii=False)


__all__ = [
    "EnvironmentInfo",
    "Origin",
    "environment_text",
    "environments_json",
    "environments_text",
    "merged_json",
    "merged_yaml",
    "origin_of",
]
