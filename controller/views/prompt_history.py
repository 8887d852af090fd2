"""`genaiops prompts history`: a prompt's published versions, newest first, with the labels on each, as
lines for people or a versioned JSON document for machines. Pure rendering of a `PromptIndex`.

The JSON document (fields are only ever added within format 1.x):

    {"format_version": "1.0", "prompt", "store", "labels": {label: version},
     "versions": [{"version", "created", "commit", "author", "labels": [label, ...]}]   newest first,
     "history": [{"label", "version", "previous", "at", "commit", "author", "applied"}]  oldest first}
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from controller.prompts.index import PromptIndex

FORMAT_VERSION = "1.0"


def _labels_of(index: PromptIndex, version: str) -> list[str]:
    return sorted(label for label, points_at in index.labels.items() if points_at == version)


def history_lines(index: PromptIndex) -> Iterator[str]:
    """`<version>  <created>  <commit>  <author>  [labels]`, newest first."""
    for entry in reversed(index.versions):
        labels = _labels_of(index, entry.version)
        tag = f"  [{', '.join(labels)}]" if labels else ""
        yield f"{entry.version}  {entry.created}  {entry.commit[:12] or '-'}  {entry.author or '-'}{tag}"


def history_json(index: PromptIndex, *, store: str) -> str:
    """The history as a versioned JSON document."""
    document = {
        "format_version": FORMAT_VERSION,
        "prompt": index.name,
        "store": store,
        "labels": dict(sorted(index.labels.items())),
        "versions": [{**vars(e), "labels": _labels_of(index, e.version)} for e in reversed(index.versions)],
        "history": [vars(move) for move in index.history],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


__all__ = ["FORMAT_VERSION", "history_json", "history_lines"]
