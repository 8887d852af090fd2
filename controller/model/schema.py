"""JSON Schemas of the manifest kinds, generated from the pydantic models (the models are authoritative).

`genaiops schema --out schemas/` writes them; a test checks the checked-in copies are current.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from controller.model import KINDS, Manifest

SCHEMA_ID_BASE = "https://genaiops.dev/schemas/v1"
COMBINED = "genaiops.schema.json"


def _decorate(schema: dict[str, Any], *, name: str, title: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{SCHEMA_ID_BASE}/{name}",
        "title": title,
        **schema,
    }


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> schema: one per kind plus a combined schema for any genaiops manifest."""
    out: dict[str, dict[str, Any]] = {}
    for kind, model in KINDS.items():
        name = f"{kind.lower()}.schema.json"
        out[name] = _decorate(model.model_json_schema(by_alias=True), name=name, title=f"genaiops {kind}")
    union = TypeAdapter(Annotated[Manifest, Field(discriminator="kind")])
    out[COMBINED] = _decorate(union.json_schema(by_alias=True), name=COMBINED, title="genaiops manifest")
    return out


def render(schema: dict[str, Any]) -> str:
    """The exact text written to disk (stable, so the checked-in copy can be compared byte for byte)."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
