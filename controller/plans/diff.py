"""Field-level differences between two comparable views of a resource (deepdiff underneath)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import notpresent

from controller.plans.plan import FieldChange


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """Every leaf (or added / removed subtree) that differs, sorted by path."""
    if before == after:
        return ()  # the common case on a refresh; deepdiff only runs for resources that changed
    diff = DeepDiff(dict(before), dict(after), view="tree")
    out: list[FieldChange] = []
    for items in diff.values():
        for item in items:
            path = ".".join(str(p) for p in item.path(output_format="list"))
            old = None if item.t1 is notpresent else item.t1
            new = None if item.t2 is notpresent else item.t2
            out.append(FieldChange(path, old, new))
    return tuple(sorted(out, key=lambda c: c.path))
