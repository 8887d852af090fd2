"""`AsyncGenAIClient`: the async twin of `GenAIClient` (same pipeline, `core.py`; same arguments).

    client = AsyncGenAIClient(prompts, models)
    result = await client.generate("support-answer", {"question": "..."}, routing_key=user_id)
    stream = client.stream("support-answer", {"question": "..."})
    async for delta in stream: ...
    stream.result

Models with native async calls (Gemini through google-genai's `client.aio`) are awaited; others
(Endpoint Predict) run in a worker thread. A Redis cache is read in a worker thread too; the in-memory
cache and a warm prompt fetch take microseconds and run inline (the prompt client refreshes in the
background, so only the very first fetch of a prompt waits on the store).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from tenacity import AsyncRetrying

from controller.errors import GenaiopsError
from controller.prompts.client import PromptClient
from controller.runtime.cache import CachedAnswer, CacheStats, MemoryCache
from controller.runtime.core import CacheOption, Core, Prepared, PriceOption
from controller.runtime.failures import NotStreamableError
from controller.runtime.genai_client import GenAIClient, retry_policy
from controller.runtime.model import AsyncModel, ModelAnswer, ModelRequest, ModelRouter, StreamingModel
from controller.runtime.records import Feedback, Recorder
from controller.runtime.result import Result
from controller.runtime.streaming import StreamState

T = TypeVar("T")


class AsyncGenAIClient:
    """Async `generate` and `stream`; arguments and behaviour as `GenAIClient`."""

    def __init__(
        self,
        prompts: PromptClient,
        models: ModelRouter,
        *,
        cache: CacheOption = "memory",
        recorder: Recorder | None = None,
        prices: PriceOption = None,
        **options: Any,
    ) -> None:
        self._sync = GenAIClient(prompts, models, cache=cache, recorder=recorder, prices=prices, **options)
        self._core: Core = self._sync.core

    def record_feedback(
        self, request_id: str, rating: int, text: str | None = None, user_id: str | None = None
    ) -> Feedback:
        """Store a user's rating of a request this client served (see `GenAIClient.record_feedback`)."""
        return self._sync.record_feedback(request_id, rating, text, user_id)

    @property
    def core(self) -> Core:
        """The shared pipeline."""
        return self._core

    async def generate(
        self,
        prompt: str,
        variables: Mapping[str, Any] | None = None,
        *,
        label: str = "production",
        routing_key: str | None = None,
    ) -> Result:
        """Answer one request (see `GenAIClient.generate`; `routing_key` picks the version under a prompt
        canary, sticky, and is never logged nor stored)."""
        core = self._core
        prepared = core.prepare(prompt, variables or {}, label, routing_key=routing_key)
        if isinstance(prepared, Result):
            return prepared
        cached = await self._lookup(prepared)
        if cached is not None:
            return core.from_cache(prepared, cached)
        request = prepared.request
        try:
            answer = await self._retrying(lambda: self._generate(request))
            return core.answered(prepared, answer, model=request.model, fallback=False)
        except GenaiopsError as err:
            fallback = core.fallback_model(prepared)
            if fallback is None:
                raise core.failed(prepared, err, model=request.model) from err
            second = replace(request, model=fallback)
            try:
                answer = await self._retrying(lambda: self._generate(second))
            except GenaiopsError as err2:
                raise core.failed(prepared, err2, model=fallback, primary=err) from err2
            return core.answered(prepared, answer, model=fallback, fallback=True)

    async def _lookup(self, prepared: Prepared) -> CachedAnswer | None:
        cache = self._core.cache
        if prepared.cache_key is None or cache is None:
            return None
        if isinstance(cache.store, MemoryCache):
            return cache.get(prepared.cache_key)
        return await asyncio.to_thread(cache.get, prepared.cache_key)

    async def _retrying(self, fn: Callable[[], Awaitable[T]]) -> T:
        async for attempt in AsyncRetrying(**retry_policy(self._core.options)):
            with attempt:
                return await fn()
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _generate(self, request: ModelRequest) -> ModelAnswer:
        model = self._core.models.model_for(request.model, api=request.endpoint_api)
        if isinstance(model, AsyncModel):
            return await model.agenerate(request)
        return await asyncio.to_thread(model.generate, request)

    def stream(
        self,
        prompt: str,
        variables: Mapping[str, Any] | None = None,
        *,
        label: str = "production",
        routing_key: str | None = None,
    ) -> AsyncStream:
        """Answer one request as it is generated: `async for delta in stream`, then `stream.result`."""
        return AsyncStream(self, prompt, dict(variables or {}), label, routing_key=routing_key)

    async def _open(self, request: ModelRequest) -> tuple[ModelAnswer, AsyncIterator[ModelAnswer]]:
        async def first() -> tuple[ModelAnswer, AsyncIterator[ModelAnswer]]:
            model = self._core.models.model_for(request.model, api=request.endpoint_api)
            if isinstance(model, AsyncModel):
                chunks = aiter(model.astream(request))
            elif isinstance(model, StreamingModel):
                chunks = _threaded(model, request)
            else:
                raise NotStreamableError(f"{request.model} cannot stream (Endpoint Predict): use generate()")
            return await anext(chunks, ModelAnswer("")), chunks

        return await self._retrying(first)

    def cache_stats(self) -> CacheStats:
        """Hits, misses, stores, errors and the cost saved by the response cache."""
        return self._core.stats()

    async def aclose(self) -> None:
        """Flush the recorder."""
        await asyncio.to_thread(self._core.recorder.flush)


async def _threaded(model: StreamingModel, request: ModelRequest) -> AsyncIterator[ModelAnswer]:
    """A sync stream read in a worker thread, one chunk at a time."""
    chunks = iter(model.stream(request))
    done = object()
    while True:
        chunk = await asyncio.to_thread(next, chunks, done)
        if chunk is done:
            return
        assert isinstance(chunk, ModelAnswer)
        yield chunk


class AsyncStream:
    """The text deltas of one streamed answer; `result` is set once they are all read."""

    def __init__(
        self,
        client: AsyncGenAIClient,
        prompt: str,
        variables: dict[str, Any],
        label: str,
        *,
        routing_key: str | None = None,
    ) -> None:
        self._client, self._args = client, (prompt, variables, label)
        self._routing_key = routing_key  # held only until the version is chosen; never logged nor stored
        self.result: Result | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._deltas()

    async def _deltas(self) -> AsyncIterator[str]:
        core = self._client.core
        prepared = core.prepare(*self._args, routing_key=self._routing_key)
        if isinstance(prepared, Result):
            self.result = prepared
            if prepared.text:
                yield prepared.text
            return
        cached = await self._client._lookup(prepared)
        if cached is not None:
            self.result = core.from_cache(prepared, cached)
            yield self.result.text
            return
        first, rest, model, fallback = await self._start(prepared)
        state = StreamState(prepared.settings.rules, timer=core.timer, started=prepared.started)
        try:
            for delta in state.feed(first):
                yield delta
            async for chunk in rest:
                for delta in state.feed(chunk):
                    yield delta
                if state.stopped:
                    break
        except GenaiopsError as err:
            raise core.failed(prepared, err, model=model) from err
        finally:
            close = getattr(rest, "aclose", None)
            if close is not None:
                await close()
        for delta in state.close():
            yield delta
        self.result = core.answered(prepared, state.answer(), model=model, fallback=fallback, timing=state.timing())

    async def _start(self, prepared: Prepared) -> tuple[ModelAnswer, AsyncIterator[ModelAnswer], str, bool]:
        core, request = self._client.core, prepared.request
        try:
            first, rest = await self._client._open(request)
            return first, rest, request.model, False
        except NotStreamableError:
            raise
        except GenaiopsError as err:
            fallback = core.fallback_model(prepared)
            if fallback is None:
                raise core.failed(prepared, err, model=request.model) from err
            try:
                first, rest = await self._client._open(replace(request, model=fallback))
            except GenaiopsError as err2:
                raise core.failed(prepared, err2, model=fallback, primary=err) from err2
            return first, rest, fallback, True
