"""A prompt version's runtime settings, read from what the version recorded at publish (`RUNTIME_KEYS` of
controller/prompts/version.py, validated with the manifest's own models) and compiled once per version:
cache policy, safety rules, Gemini safety settings and the fallback model. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast, get_args

from controller.model import duration_seconds
from controller.model.prompt_runtime import CachePolicy, CacheWhen, PromptSafety, SafetySetting
from controller.prompts.version import PromptVersion
from controller.runtime.model import EndpointApi
from controller.runtime.safety import Rules


@dataclass(frozen=True)
class RuntimeSettings:
    """How the runtime client treats requests for one prompt version."""

    cache_when: CacheWhen = "deterministic"
    cache_ttl_s: float = 3600.0
    rules: Rules = field(default_factory=Rules)
    safety_settings: tuple[Mapping[str, str], ...] = ()
    fallback_model: str | None = None  # the Vertex name when the version recorded one, else the manifest's
    endpoint_api: EndpointApi | None = None  # recorded by the version: a tuned Gemini or an open chat endpoint

    def cacheable(self, generation_config: Mapping[str, Any]) -> bool:
        """Whether an answer to this config may be served from (and stored in) the response cache:
        `deterministic` caches only temperature 0 (an unset temperature is the model's default, not 0)."""
        match self.cache_when:
            case "never":
                return False
            case "always":
                return True
            case "deterministic":
                temperature = generation_config.get("temperature")
                return temperature is not None and float(temperature) == 0.0
        return False  # pragma: no cover  (Literal exhausted)


def settings_of(version: PromptVersion) -> RuntimeSettings:
    """The settings a version recorded (defaults for a version that recorded none)."""
    runtime = version.runtime
    cache = CachePolicy.model_validate(runtime.get("cache") or {})
    safety = PromptSafety.model_validate(runtime.get("safety") or {})
    settings = tuple(
        SafetySetting.model_validate(s).model_dump(mode="json", exclude_none=True)
        for s in runtime.get("safetySettings") or ()
    )
    fallback = runtime.get("fallbackVertexModel") or runtime.get("fallbackModel") or None
    return RuntimeSettings(
        cache_when=cache.when,
        cache_ttl_s=duration_seconds(cache.ttl),
        rules=Rules.of(safety),
        safety_settings=settings,
        fallback_model=str(fallback) if fallback else None,
        endpoint_api=_endpoint_api(runtime.get("endpointApi")),
    )


def _endpoint_api(value: object) -> EndpointApi | None:
    """The recorded `endpointApi`, when it is one the runtime knows (an unknown one: decided by the name)."""
    return cast(EndpointApi, value) if value in get_args(EndpointApi) else None
