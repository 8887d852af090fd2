"""The request pipeline shared by the sync and async clients, minus the model calls themselves:

    prepare   label check -> prompt version (the prompt client; ONE choice per request, sticky by routing
              key under a prompt canary) -> input deny patterns -> strict render -> PII redaction
              (spec.safety.redactInput) -> model request -> cache key (per the cache policy)
    answered  tokens (usage metadata, else an estimate) -> cost -> output filters -> cache store
    finish    the RequestRecord to the recorder and ONE structured log line (prompt redacted, truncated)

`genai_client.py` and `aclient.py` do the I/O in between (cache lookups, model calls with retries and the
fallback model). The version chosen in `prepare` is the one rendered, folded into the cache key and
carried by the Prepared request into its RequestRecord, Result and metrics. No request content reaches a
log line, a cache key or a record's label fields except through `pii.preview` (redacted) or a hash; the
routing key reaches none of them.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from controller.prompts.client import PromptClient
from controller.prompts.models import qualified
from controller.prompts.render import RenderedPrompt, RenderError
from controller.prompts.version import PromptVersion
from controller.runtime.cache import CachedAnswer, CacheStats, GuardedCache, MemoryCache, ResponseCache, cache_key
from controller.runtime.failures import ModelCallError, ModelRetiredError, outcome_of
from controller.runtime.model import ModelAnswer, ModelRequest, ModelRouter, endpoint_parts
from controller.runtime.pii import preview, redact, redact_text
from controller.runtime.records import Feedback, Outcome, Recorder, RequestRecord, Usage
from controller.runtime.result import Result
from controller.runtime.safety import Verdict, blocked, check_input, check_output
from controller.runtime.settings import RuntimeSettings, settings_of
from controller.runtime.streaming import StreamTiming
from controller.runtime.token_prices import ModelPrice, PriceTable, bundled_prices
from controller.runtime.tokens import usage_or_estimate

REQUEST_LOGGER = "controller.runtime.requests"
_log = logging.getLogger(REQUEST_LOGGER)
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,62}$")
CacheOption = ResponseCache | Literal["memory", "off"]
PriceOption = PriceTable | Mapping[str, ModelPrice | Mapping[str, Any]] | None


class NullRecorder:
    """The default recorder: keeps nothing."""

    def record(self, record: RequestRecord) -> None:
        """Drop the record."""

    def record_feedback(self, feedback: Feedback) -> None:
        """Drop the feedback."""

    def flush(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True)
class Options:
    """The client's knobs (see `GenAIClient` for what each means)."""

    timeout_s: float = 30.0
    max_attempts: int = 3
    deadline_s: float = 60.0
    backoff_s: float = 0.25
    max_backoff_s: float = 4.0
    cache_scope: str = ""
    project: str | None = None
    log_prompt_chars: int = 160


@dataclass(frozen=True)
class Prepared:
    """A request ready for the cache and the model."""

    request_id: str
    started: float
    prompt: str
    version: str
    label: str
    settings: RuntimeSettings
    request: ModelRequest
    cache_key: str | None
    rendered: str  # the rendered prompt, before redaction: only ever logged through `pii.preview`
    verdicts: tuple[Verdict, ...] = ()


class Core:
    """The pure-ish parts of a request, shared by `GenAIClient` and `AsyncGenAIClient`."""

    def __init__(
        self,
        prompts: PromptClient,
        models: ModelRouter,
        *,
        cache: CacheOption,
        recorder: Recorder | None,
        prices: PriceOption,
        options: Options,
        cache_retry_after_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if options.max_attempts < 1 or options.timeout_s <= 0 or options.deadline_s <= 0:
            raise ValueError("max_attempts must be >= 1, timeout_s and deadline_s > 0")
        self.prompts, self.models, self.options = prompts, models, options
        store: ResponseCache | None = MemoryCache() if cache == "memory" else None if cache == "off" else cache
        self.cache = None if store is None else GuardedCache(store, retry_after_s=cache_retry_after_s)
        self.recorder: Recorder = recorder or NullRecorder()
        table = bundled_prices()
        if isinstance(prices, PriceTable):
            table = prices
        elif prices:
            table = table.with_overrides(prices)
        self.prices = table
        self.clock, self.timer = clock, timer
        self._settings: dict[tuple[str, str], RuntimeSettings] = {}

    # -- before the model ------------------------------------------------------------------------
    def settings_for(self, version: PromptVersion) -> RuntimeSettings:
        """A version's settings, compiled once."""
        key = (version.name, version.id)
        found = self._settings.get(key)
        if found is None:
            found = self._settings[key] = settings_of(version)
        return found

    def prepare(
        self, prompt: str, variables: Mapping[str, Any], label: str, *, routing_key: str | None = None
    ) -> Prepared | Result:
        """Everything up to the cache lookup; a Result when the input is refused by a deny pattern.
        `routing_key` picks the version under a prompt canary (sticky; never logged nor stored).
        RenderError (bad variables) is recorded as BLOCKED_INPUT, then raised."""
        request_id, started = uuid.uuid4().hex, self.timer()
        if not _LABEL.match(label):
            raise ValueError("label must be letters, digits and '-', starting with a letter (an environment name)")
        version, rendered = self._render(
            prompt, variables, label=label, routing_key=routing_key, request_id=request_id, started=started
        )
        settings = self.settings_for(version)
        text, verdicts = rendered.text, []
        if settings.rules.redact_input:
            redaction = redact(text)
            text = redaction.text
            if redaction.count:
                verdicts.append(Verdict("input", "pii", False, f"redacted {redaction.summary()}"))
        request = ModelRequest(
            model=rendered.model,
            text=text,
            system_instruction=rendered.system_instruction,
            generation_config=dict(rendered.generation_config),
            safety_settings=settings.safety_settings,
            timeout_s=self.options.timeout_s,
            endpoint_api=settings.endpoint_api,
        )
        denied = check_input(settings.rules, variables)
        key = None
        if denied is not None:
            pass  # refused: never cached, never looked up
        elif self.cache is not None and settings.cacheable(request.generation_config):
            key = cache_key(
                prompt=prompt,
                version=version.id,
                model=request.model,
                contents=request.text,
                system_instruction=request.system_instruction,
                generation_config=request.generation_config,
                safety_settings=request.safety_settings,
                scope=self.options.cache_scope,
            )
        elif self.cache is not None:
            self.cache.bypassed()
        prepared = Prepared(
            request_id,
            started,
            prompt,
            version.id,
            label,
            settings,
            request,
            key,
            rendered.text,
            tuple(verdicts),
        )
        if denied is not None:
            return self.blocked_input(prepared, denied)
        return prepared

    def _render(
        self,
        prompt: str,
        variables: Mapping[str, Any],
        *,
        label: str,
        routing_key: str | None,
        request_id: str,
        started: float,
    ) -> tuple[PromptVersion, RenderedPrompt]:
        # ONE choice per request: the version chosen here is the one rendered, cached under and recorded
        # (choosing again to render could draw another version for a keyless request under a canary)
        version = self.prompts.get(prompt, label=label, routing_key=routing_key)
        try:
            rendered = self.prompts.render_version(version, variables)
        except RenderError as err:  # the variables were refused (other errors are not the input's fault)
            record = self._record(request_id, prompt, version.id, label, version.runs_on, Outcome.BLOCKED_INPUT)
            self._emit(record, self.timer() - started, cost_saved=0.0, rendered="", verdicts=(), error=err)
            raise
        return version, rendered

    def fallback_model(self, prepared: Prepared) -> str | None:
        """The fallback model's full name, or None (none declared, or the same as the primary)."""
        name = prepared.settings.fallback_model
        if not name:
            return None
        full = qualified(name, self.options.project)
        return None if full == prepared.request.model else full

    # -- after the model -------------------------------------------------------------------------
    def blocked_input(self, prepared: Prepared, verdict: Verdict) -> Result:
        """The answer to a request refused before the model call."""
        return self.finish(
            prepared,
            text=prepared.settings.rules.fallback_text,
            model=prepared.request.model,
            outcome=Outcome.BLOCKED_INPUT,
            usage=Usage(),
            verdicts=(*prepared.verdicts, verdict),
        )

    def from_cache(self, prepared: Prepared, cached: CachedAnswer) -> Result:
        """The answer served from the cache: free, with what it saved."""
        saved = self.prices.cost(cached.model, cached.usage).usd
        if self.cache is not None:
            self.cache.saved(saved)
        return self.finish(
            prepared,
            text=cached.text,
            model=cached.model,
            outcome=Outcome.CACHE_HIT,
            usage=Usage(),
            verdicts=(*prepared.verdicts, *cached.verdicts),
            finish_reason=cached.finish_reason,
            cost_saved=saved,
        )

    def answered(
        self,
        prepared: Prepared,
        answer: ModelAnswer,
        *,
        model: str,
        fallback: bool,
        timing: StreamTiming | None = None,
    ) -> Result:
        """The answer the model gave: costed, filtered, cached when the policy allows. `timing`: a streamed
        answer's (its time to first token and output tokens per second go to the record)."""
        request = prepared.request
        usage = usage_or_estimate(
            answer.usage, prompt=request.text, system_instruction=request.system_instruction, answer=answer.text
        )
        verdicts = (*prepared.verdicts, *check_output(prepared.settings.rules, answer, answer.text))
        text, outcome = answer.text, Outcome.FALLBACK if fallback else Outcome.OK
        if blocked(verdicts):
            text, outcome = prepared.settings.rules.fallback_text, Outcome.BLOCKED_OUTPUT
        elif prepared.cache_key is not None and not fallback and self.cache is not None:
            stored = CachedAnswer(text, model, usage, answer.finish_reason, verdicts[len(prepared.verdicts) :])
            self.cache.put(prepared.cache_key, replace(stored, stored_at=self.clock()), prepared.settings.cache_ttl_s)
        return self.finish(
            prepared,
            text=text,
            model=model,
            outcome=outcome,
            usage=usage,
            verdicts=verdicts,
            finish_reason=answer.finish_reason,
            streamed=stream_fields(
                timing, usage, answer, model=model, blocked_output=outcome is Outcome.BLOCKED_OUTPUT
            ),
        )

    def failed(
        self, prepared: Prepared, err: BaseException, *, model: str, primary: BaseException | None = None
    ) -> ModelCallError:
        """Record and log a failed call; the error to raise to the application (message redacted). When the
        fallback model failed too, `primary` is the primary model's error: a retired primary is named in
        the message, since moving off it is the fix."""
        outcome = outcome_of(err)
        record = self._record(prepared.request_id, prepared.prompt, prepared.version, prepared.label, model, outcome)
        self._emit(
            record,
            self.timer() - prepared.started,
            cost_saved=0.0,
            rendered=prepared.rendered,
            verdicts=prepared.verdicts,
            error=err,
        )
        message = f"prompt {prepared.prompt}@{prepared.version} on {model}: {redact_text(str(err))}"
        if isinstance(primary, ModelRetiredError):
            message += f"; before it, the primary model failed: {redact_text(str(primary))}"
        return ModelCallError(message, outcome=outcome, request_id=prepared.request_id)

    def finish(
        self,
        prepared: Prepared,
        *,
        text: str,
        model: str,
        outcome: Outcome,
        usage: Usage,
        verdicts: tuple[Verdict, ...],
        finish_reason: str | None = None,
        cost_saved: float = 0.0,
        streamed: Mapping[str, Any] | None = None,
    ) -> Result:
        """Record, log, and build the Result. `streamed`: a streamed answer's RequestRecord fields
        (`stream_fields`)."""
        cost = self.prices.cost(model, usage)
        latency = self.timer() - prepared.started
        record = self._record(
            prepared.request_id, prepared.prompt, prepared.version, prepared.label, model, outcome, usage, cost.usd
        )
        record = replace(record, cache_hit=outcome is Outcome.CACHE_HIT, **(streamed or {}))
        self._emit(record, latency, cost_saved=cost_saved, rendered=prepared.rendered, verdicts=verdicts)
        return Result(
            text=text,
            request_id=prepared.request_id,
            prompt=prepared.prompt,
            version=prepared.version,
            label=prepared.label,
            model=model,
            outcome=outcome,
            usage=usage,
            cost_usd=cost.usd,
            latency_s=latency,
            cache_hit=outcome is Outcome.CACHE_HIT,
            cost_saved_usd=cost_saved,
            verdicts=verdicts,
            finish_reason=finish_reason,
            priced=cost.priced,
        )

    def _record(
        self,
        request_id: str,
        prompt: str,
        version: str,
        label: str,
        model: str,
        outcome: Outcome,
        usage: Usage | None = None,
        cost: float = 0.0,
    ) -> RequestRecord:
        return RequestRecord(
            request_id=request_id,
            prompt=prompt,
            version=version,
            label=label,
            model=model,
            outcome=outcome,
            latency_s=0.0,
            usage=usage or Usage(),
            cost_usd=cost,
            cache_hit=False,
            at=self.clock(),
        )

    def _emit(
        self,
        record: RequestRecord,
        latency: float,
        *,
        cost_saved: float,
        rendered: str,
        verdicts: tuple[Verdict, ...],
        error: BaseException | None = None,
    ) -> None:
        record = replace(record, latency_s=latency)
        try:
            self.recorder.record(record)
        except Exception as err:  # a broken recorder must never fail a request
            _log.warning("the request recorder failed: %s: %s", type(err).__name__, redact_text(str(err)))
        if _log.isEnabledFor(logging.INFO):
            shown = preview(rendered, self.options.log_prompt_chars)  # redacted only when the line is written
            fields = log_fields(record, cost_saved=cost_saved, preview_text=shown, verdicts=verdicts)
            if error is not None:
                fields["error"] = f"{type(error).__name__}: {redact_text(str(error))}"[:500]
            _log.info("genaiops request %s", json.dumps(fields, ensure_ascii=False), extra={"json_fields": fields})

    def stats(self) -> CacheStats:
        """The response cache's counters (all zero without a cache)."""
        return CacheStats() if self.cache is None else self.cache.stats.snapshot()


def endpoint_id_of(model: str) -> str | None:
    """The endpoint id of an endpoint model name (`projects/P/locations/R/endpoints/E` -> E), else None."""
    parts = endpoint_parts(model)
    return parts[1] if parts else None


def stream_fields(
    timing: StreamTiming | None, usage: Usage, answer: ModelAnswer, *, model: str, blocked_output: bool
) -> dict[str, Any]:
    """The RequestRecord fields of a streamed answer: time to first token (when text came), output tokens
    per second (not for an answer cut short by the output filters), and for an endpoint model the endpoint
    id and the deployed model that answered. Empty for a whole answer."""
    if timing is None:
        return {}
    return {
        "time_to_first_token_s": timing.time_to_first_token_s,
        "tokens_per_second": None if blocked_output else timing.tokens_per_second(usage.output_tokens),
        "endpoint_id": endpoint_id_of(model),
        "deployed_model_id": answer.deployed_model_id,
    }


def log_fields(
    record: RequestRecord, *, cost_saved: float, preview_text: str, verdicts: tuple[Verdict, ...]
) -> dict[str, Any]:
    """The structured log line of one request (Cloud Logging reads `json_fields`)."""
    u = record.usage
    return {
        "requestId": record.request_id,
        "prompt": record.prompt,
        "version": record.version,
        "label": record.label,
        "model": record.model,
        "outcome": record.outcome.value,
        "latencyMs": round(record.latency_s * 1000, 3),
        "inputTokens": u.input_tokens,
        "outputTokens": u.output_tokens,
        "cachedTokens": u.cached_tokens,
        "thinkingTokens": u.thinking_tokens,
        "tokensEstimated": u.estimated,
        "costUsd": record.cost_usd,
        "costSavedUsd": cost_saved,
        "cacheHit": record.cache_hit,
        "verdicts": [v.to_json() for v in verdicts],
        "promptPreview": preview_text,
    }
