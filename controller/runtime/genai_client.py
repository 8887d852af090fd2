"""`GenAIClient`: the one call applications make per request (sync; `aclient.py` has the async twin).

    from controller.runtime import GenAIClient
    client = GenAIClient(prompts, models)            # see docs/runtime.md for wiring Vertex AI and Redis
    result = client.generate("support-answer", {"question": "..."}, label="production", routing_key=user_id)
    result.text, result.usage, result.cost_usd, result.cache_hit, result.verdicts, result.version

Per request: the pipeline in `core.py` prepares it, choosing the prompt version once (under a prompt
canary, sticky by `routing_key`: the same user or session always gets the same version at a given
weight; without a key, at random); a cache hit answers for free; otherwise the model is
called with a per-attempt timeout and retried on transient errors (429, 5xx, deadlines: exponential
backoff with jitter, at most `max_attempts` attempts within `deadline_s`); when the model still fails
and the prompt declares `spec.fallbackModel`, that model gets the same treatment. Whatever happens, one
RequestRecord goes to the recorder and one structured line to the `controller.runtime.requests` logger.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay
from tenacity.wait import wait_exponential_jitter

from controller.errors import GenaiopsError, TransientError, UserError
from controller.prompts.client import PromptClient
from controller.runtime.cache import CacheStats
from controller.runtime.core import CacheOption, Core, Options, Prepared, PriceOption
from controller.runtime.failures import ModelCallError, NotStreamableError
from controller.runtime.feedback import FeedbackRecorder
from controller.runtime.model import ModelAnswer, ModelRequest, ModelRouter, StreamingModel
from controller.runtime.pii import redact_text
from controller.runtime.records import Feedback, Recorder
from controller.runtime.result import Result
from controller.runtime.streaming import StreamState

T = TypeVar("T")
_log = logging.getLogger(__name__)


def log_retry(state: RetryCallState) -> None:
    """One line per retry (the error redacted: vendors sometimes echo request fields)."""
    err = state.outcome.exception() if state.outcome is not None else None
    _log.info(
        "model call failed (attempt %d): %s: %s; retrying",
        state.attempt_number,
        type(err).__name__,
        redact_text(str(err))[:300],
    )


def retry_policy(options: Options) -> dict[str, Any]:
    """Tenacity arguments shared by the sync and async clients."""
    return {
        "stop": stop_after_attempt(options.max_attempts) | stop_after_delay(options.deadline_s),
        "wait": wait_exponential_jitter(initial=options.backoff_s, max=options.max_backoff_s, jitter=options.backoff_s),
        "retry": retry_if_exception_type(TransientError),
        "reraise": True,
        "before_sleep": log_retry,
    }


class GenAIClient:
    """Prompt fetch + render + model call + cache + tokens and cost + safety, for one request at a time
    (thread-safe: share one client per process).

    prompts: the `PromptClient` (label -> version, cached, with its snapshot fallback; under a prompt
        canary it routes each request by its `routing_key`, sticky: see `controller.prompts.client`).
    models: which adapter serves a model name (`controller.providers.runtime_models.VertexModels`).
    cache: "memory" (a bounded LRU, the default), "off", or a `ResponseCache` such as
        `controller.providers.redis_cache.RedisCache`; a failing cache means no cache, never a failed request.
    recorder: where RequestRecords go (Cloud Monitoring, batched); default: nowhere.
    prices: overrides on top of the bundled price table (model -> ModelPrice or a prices.yaml row), or a
        whole `PriceTable`.
    timeout_s: per attempt; max_attempts / deadline_s: retries on transient errors; backoff_s / max_backoff_s:
        the exponential backoff between them.
    cache_scope: a tenant or application scope folded into every cache key.
    project: completes project-relative model names (registry models, a fallback); default
        GOOGLE_CLOUD_PROJECT, as the prompt client.
    log_prompt_chars: how much of the (redacted) prompt the log line shows; 0 for none.
    """

    def __init__(
        self,
        prompts: PromptClient,
        models: ModelRouter,
        *,
        cache: CacheOption = "memory",
        recorder: Recorder | None = None,
        prices: PriceOption = None,
        timeout_s: float = 30.0,
        max_attempts: int = 3,
        deadline_s: float = 60.0,
        backoff_s: float = 0.25,
        max_backoff_s: float = 4.0,
        cache_scope: str = "",
        project: str | None = None,
        log_prompt_chars: int = 160,
        cache_retry_after_s: float = 30.0,
        feedback: FeedbackRecorder | None = None,
    ) -> None:
        self._feedback = feedback
        if feedback is not None:  # it remembers what served each request, so a rating can be joined
            recorder = feedback.tee(recorder)
        options = Options(
            timeout_s=timeout_s,
            max_attempts=max_attempts,
            deadline_s=deadline_s,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            cache_scope=cache_scope,
            project=project or os.environ.get("GOOGLE_CLOUD_PROJECT") or None,
            log_prompt_chars=log_prompt_chars,
        )
        self._core = Core(
            prompts,
            models,
            cache=cache,
            recorder=recorder,
            prices=prices,
            options=options,
            cache_retry_after_s=cache_retry_after_s,
        )

    def record_feedback(
        self, request_id: str, rating: int, text: str | None = None, user_id: str | None = None
    ) -> Feedback:
        """Store a user's rating (1-5) of a request this client served (see `FeedbackRecorder`)."""
        if self._feedback is None:
            raise UserError("no feedback store: pass feedback=FeedbackRecorder(...) to the client")
        return self._feedback.record_feedback(request_id, rating, text, user_id)

    @property
    def core(self) -> Core:
        """The shared pipeline (for the async client and tests)."""
        return self._core

    def generate(
        self,
        prompt: str,
        variables: Mapping[str, Any] | None = None,
        *,
        label: str = "production",
        routing_key: str | None = None,
    ) -> Result:
        """Answer one request. Under a prompt canary, `routing_key` (a user or session id) picks the version,
        sticky (None: at random); it is never logged nor stored, and `Result.version` says which version
        answered. Raises RenderError for bad variables, ModelCallError when the model (and the fallback
        model) failed, PromptUnavailableError when the prompt cannot be had."""
        core = self._core
        prepared = core.prepare(prompt, variables or {}, label, routing_key=routing_key)
        if isinstance(prepared, Result):
            return prepared
        if prepared.cache_key is not None and core.cache is not None:
            cached = core.cache.get(prepared.cache_key)
            if cached is not None:
                return core.from_cache(prepared, cached)
        return self._call(prepared)

    def _retrying(self, fn: Callable[[], T]) -> T:
        for attempt in Retrying(**retry_policy(self._core.options)):
            with attempt:
                return fn()
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _call(self, prepared: Prepared) -> Result:
        core = self._core
        request = prepared.request
        try:
            model = core.models.model_for(request.model, api=request.endpoint_api)
            answer = self._retrying(lambda: model.generate(request))
            return core.answered(prepared, answer, model=request.model, fallback=False)
        except GenaiopsError as err:
            fallback = core.fallback_model(prepared)
            if fallback is None:
                raise core.failed(prepared, err, model=request.model) from err
            _log.warning(
                "model %s failed (%s); answering with the fallback model %s",
                request.model,
                type(err).__name__,
                fallback,
            )
            second = replace(request, model=fallback)
            try:
                answer = self._retrying(lambda: core.models.model_for(fallback).generate(second))
            except GenaiopsError as err2:
                raise core.failed(prepared, err2, model=fallback, primary=err) from err2
            return core.answered(prepared, answer, model=fallback, fallback=True)

    def stream(
        self,
        prompt: str,
        variables: Mapping[str, Any] | None = None,
        *,
        label: str = "production",
        routing_key: str | None = None,
    ) -> Stream:
        """Answer one request as it is generated (Gemini models): iterate the returned `Stream` for text
        deltas, then read `stream.result`. Retries and the fallback model apply until the first chunk;
        `routing_key` as in `generate`."""
        prepared = self._core.prepare(prompt, variables or {}, label, routing_key=routing_key)
        return Stream(self, prepared)

    def _open(self, request: ModelRequest) -> tuple[ModelAnswer, Iterator[ModelAnswer]]:
        """Start a stream and wait for its first chunk (retried like a whole call)."""

        def first() -> tuple[ModelAnswer, Iterator[ModelAnswer]]:
            model = self._core.models.model_for(request.model, api=request.endpoint_api)
            if not isinstance(model, StreamingModel):
                raise NotStreamableError(f"{request.model} cannot stream (Endpoint Predict): use generate()")
            chunks = iter(model.stream(request))
            return next(chunks, ModelAnswer("")), chunks

        return self._retrying(first)

    def cache_stats(self) -> CacheStats:
        """Hits, misses, stores, errors and the cost saved by the response cache."""
        return self._core.stats()

    def close(self) -> None:
        """Flush the recorder (the application closes it)."""
        self._core.recorder.flush()

    def __enter__(self) -> GenAIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Stream:
    """The text deltas of one streamed answer; `result` is set once they are all read."""

    def __init__(self, client: GenAIClient, prepared: Prepared | Result) -> None:
        self._client = client
        self._prepared = prepared
        self.result: Result | None = prepared if isinstance(prepared, Result) else None

    def __iter__(self) -> Iterator[str]:
        prepared = self._prepared
        if isinstance(prepared, Result):
            if prepared.text:
                yield prepared.text
            return
        core = self._client.core
        if prepared.cache_key is not None and core.cache is not None:
            cached = core.cache.get(prepared.cache_key)
            if cached is not None:
                self.result = core.from_cache(prepared, cached)
                yield self.result.text
                return
        first, rest, model, fallback = self._start(prepared)
        state = StreamState(prepared.settings.rules, timer=core.timer, started=prepared.started)
        try:
            yield from state.feed(first)
            for chunk in rest:
                yield from state.feed(chunk)
                if state.stopped:
                    break
        except GenaiopsError as err:
            raise core.failed(prepared, err, model=model) from err
        finally:
            close = getattr(rest, "close", None)
            if close is not None:
                close()  # stop reading a stream we no longer need
        yield from state.close()
        self.result = core.answered(prepared, state.answer(), model=model, fallback=fallback, timing=state.timing())

    def _start(self, prepared: Prepared) -> tuple[ModelAnswer, Iterator[ModelAnswer], str, bool]:
        core, request = self._client.core, prepared.request
        try:
            first, rest = self._client._open(request)
            return first, rest, request.model, False
        except NotStreamableError:
            raise
        except GenaiopsError as err:
            fallback = core.fallback_model(prepared)
            if fallback is None:
                raise core.failed(prepared, err, model=request.model) from err
            try:
                first, rest = self._client._open(replace(request, model=fallback))
            except GenaiopsError as err2:
                raise core.failed(prepared, err2, model=fallback, primary=err) from err2
            return first, rest, fallback, True


__all__ = ["GenAIClient", "ModelCallError", "Stream"]
