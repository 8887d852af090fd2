"""A call to a retired Gemini model, on the emulator through the real google-genai SDK (and, for
`genaiops prompts test --live`, the real aiplatform_v1 client): the emulator answers 404 NOT_FOUND as the
API does after a model's last day, and the application's error names that day and the successor from the
model catalogue; a fallback model still answers; a 404 of a model the catalogue does not know stays a plain
not-found.

The emulator lives on 2026-03-01 (after gemini-2.0-flash's last day, 2026-02-05, before gemini-2.5-flash's):
GENAIOPS_TODAY while it runs (the runtime judges a 404 on it) and the emulator's start day (`today`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from google.genai import errors as genai_errors

from controller.cli.main import main
from controller.emulator.server import Emulator, running
from controller.errors import NotFoundError
from controller.prompts.client import PromptClient
from controller.prompts.store import PromptStore
from controller.providers.genai_model import translate
from controller.providers.runtime_models import VertexModels, vertex_models
from controller.runtime import AsyncGenAIClient, GenAIClient, ModelCallError, Outcome
from controller.runtime.core import REQUEST_LOGGER
from controller.runtime.failures import ModelRetiredError
from tests.runtime.conftest import LOCATION, PROJECT, Records, publish_version, version

EMULATOR_DAY = "2026-03-01"
RETIRED = "publishers/google/models/gemini-2.0-flash"  # last day 2026-02-05, successor gemini-2.5-flash
RETIRED_LITE = "publishers/google/models/gemini-2.0-flash-lite"  # last day 2026-02-25
LITE = "publishers/google/models/gemini-2.5-flash-lite"
UNKNOWN = "publishers/google/models/text-bison"  # not in the catalogue, not served by the emulator
SECRET = "my card is 4111 1111 1111 1111"


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    """An emulator on EMULATOR_DAY that answers 404 for models retired by then."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENAIOPS_TODAY", EMULATOR_DAY)
        day = date.fromisoformat(EMULATOR_DAY)
        with running(project=PROJECT, location=LOCATION, rest_port=0, storage_port=None, today=day) as emu:
            yield emu


@pytest.fixture(scope="module")
def emulator_models(emulator: Emulator) -> VertexModels:
    """Both adapters on the emulator: Predict over gRPC, google-genai over the REST gateway."""
    return vertex_models(
        project=PROJECT, location=LOCATION, grpc_target=emulator.grpc_target, genai_base_url=emulator.rest_endpoint
    )


@pytest.fixture
def make(store: PromptStore, emulator_models: VertexModels, records: Records) -> Callable[..., GenAIClient]:
    """A client on the emulator (fast retries, so a retried 404 would show as extra records or log lines)."""

    def build(**options: Any) -> GenAIClient:
        return GenAIClient(
            PromptClient(store, project=PROJECT),
            emulator_models,
            recorder=records,
            backoff_s=0.01,
            max_backoff_s=0.02,
            **options,
        )

    return build


def test_a_call_to_a_retired_model_names_its_last_day_and_its_successor(
    store: PromptStore, make: Callable[..., GenAIClient], records: Records, caplog: pytest.LogCaptureFixture
) -> None:
    publish_version(store, version(model=RETIRED))
    with caplog.at_level(logging.INFO), pytest.raises(ModelCallError) as raised:
        make(max_attempts=3).generate("support", {"question": SECRET})
    error = raised.value
    message = str(error)
    assert error.outcome is Outcome.MODEL_ERROR
    assert "gemini-2.0-flash retired on 2026-02-05 (genaiops model catalogue)" in message, message
    assert "move to gemini-2.5-flash" in message and "genaiops models outdated --write" in message
    assert "404 NOT_FOUND" in message and f"GenerateContent on {RETIRED}" in message
    cause = error.__cause__
    assert isinstance(cause, ModelRetiredError) and isinstance(cause, NotFoundError)
    assert (cause.model_id, cause.retires) == ("gemini-2.0-flash", date(2026, 2, 5))
    assert cause.successor == "gemini-2.5-flash"
    # not retried (one record, no retry line), and nothing the user typed in the record, log or error
    assert [(r.outcome, r.model) for r in records.records] == [(Outcome.MODEL_ERROR, RETIRED)]
    assert not any("retrying" in r.getMessage() for r in caplog.records)
    logged = [r.getMessage() for r in caplog.records if r.name == REQUEST_LOGGER]
    assert len(logged) == 1 and "ModelRetiredError" in logged[0] and "2026-02-05" in logged[0]
    assert "4111" not in message and not any("4111" in line for line in logged)


def test_a_stream_and_the_async_client_say_the_same(store: PromptStore, make: Callable[..., GenAIClient]) -> None:
    publish_version(store, version(model=RETIRED))
    with pytest.raises(ModelCallError, match=r"retired on 2026-02-05") as raised:
        "".join(make().stream("support", {"question": "q"}))
    assert isinstance(raised.value.__cause__, ModelRetiredError)
    assert f"StreamGenerateContent on {RETIRED}" in str(raised.value)
    sync = make()
    client = AsyncGenAIClient(sync.core.prompts, sync.core.models, recorder=Records())

    async def run() -> None:
        with pytest.raises(ModelCallError, match=r"move to gemini-2\.5-flash") as failed:
            await client.generate("support", {"question": "q"})
        assert failed.value.outcome is Outcome.MODEL_ERROR

    asyncio.run(run())


def test_a_prompt_with_a_live_fallback_model_still_answers_with_it(
    store: PromptStore, make: Callable[..., GenAIClient], records: Records
) -> None:
    publish_version(store, version(model=RETIRED, runtime={"fallbackModel": "lite", "fallbackVertexModel": LITE}))
    result = make().generate("support", {"question": "q"})
    assert (result.outcome, result.model, result.text) == (Outcome.FALLBACK, LITE, "Answer q")
    assert [(r.outcome, r.model) for r in records.records] == [(Outcome.FALLBACK, LITE)]


def test_when_the_fallback_fails_too_the_error_still_names_the_retired_primary(
    store: PromptStore, make: Callable[..., GenAIClient]
) -> None:
    runtime = {"fallbackModel": "old-lite", "fallbackVertexModel": RETIRED_LITE}
    publish_version(store, version(model=RETIRED, runtime=runtime))
    with pytest.raises(ModelCallError) as raised:
        make().generate("support", {"question": "q"})
    message = str(raised.value)
    assert raised.value.outcome is Outcome.MODEL_ERROR
    assert f"on {RETIRED_LITE}:" in message and "gemini-2.0-flash-lite retired on 2026-02-25" in message
    assert "move to gemini-2.5-flash-lite" in message
    assert "the primary model failed: " in message and "gemini-2.0-flash retired on 2026-02-05" in message


def test_a_404_of_a_model_the_catalogue_does_not_know_stays_a_plain_not_found(
    store: PromptStore, make: Callable[..., GenAIClient]
) -> None:
    publish_version(store, version(model=UNKNOWN))
    with pytest.raises(ModelCallError) as raised:
        make().generate("support", {"question": "q"})
    message = str(raised.value)
    assert raised.value.outcome is Outcome.MODEL_ERROR
    assert "404 NOT_FOUND" in message and "was not found" in message
    assert "retired" not in message and "catalogue" not in message
    cause = raised.value.__cause__
    assert isinstance(cause, NotFoundError) and not isinstance(cause, ModelRetiredError)


def _client_error(message: str = "Publisher Model was not found") -> genai_errors.ClientError:
    return genai_errors.ClientError(404, {"error": {"code": 404, "message": message, "status": "NOT_FOUND"}})


def test_translate_dates_a_404_from_the_catalogue() -> None:
    what = f"GenerateContent on {RETIRED}"
    retired = translate(_client_error(), what=what, model=RETIRED)
    assert isinstance(retired, ModelRetiredError)
    assert str(retired) == (
        f"{what}: 404 NOT_FOUND: gemini-2.0-flash retired on 2026-02-05 (genaiops model catalogue); "
        "move to gemini-2.5-flash — run `genaiops models outdated --write` "
        "(the API said: Publisher Model was not found)"
    )
    full = f"projects/p/locations/us-central1/{RETIRED}-001;latency_ms=1"
    assert isinstance(translate(_client_error(), what="x", model=full), ModelRetiredError)
    plain = translate(_client_error(), what="x", model=UNKNOWN)
    assert type(plain) is NotFoundError and str(plain) == "x: 404 NOT_FOUND Publisher Model was not found"
    no_day = "publishers/google/models/gemini-3.6-flash"  # in the catalogue, no retirement day published
    assert type(translate(_client_error(), what="x", model=no_day)) is NotFoundError
    assert type(translate(_client_error(), what="x")) is NotFoundError  # no model given


def test_a_404_before_the_catalogued_last_day_is_not_called_a_retirement(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAIOPS_TODAY", "2026-02-05")  # the model's last day: it still serves
    plain = translate(_client_error(), what="x", model=RETIRED)
    assert type(plain) is NotFoundError and "retired" not in str(plain)
    monkeypatch.setenv("GENAIOPS_TODAY", "2026-02-06")
    assert isinstance(translate(_client_error(), what="x", model=RETIRED), ModelRetiredError)


def test_prompts_test_live_reports_the_retirement_instead_of_a_traceback(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "manifests"
    root.mkdir()
    (root / "p.yaml").write_text(
        "apiVersion: genaiops/v1\nkind: Prompt\nmetadata: {name: greet}\nspec:\n"
        f"  model: {RETIRED}\n  template: 'Hello {{{{ customer }}}}!'\n"
        "  variables: {customer: {type: string}}\n  labels: [production]\n"
        "  tests:\n    - name: hello\n      vars: {customer: Ada}\n      assert: [{type: contains, value: Ada}]\n"
    )
    # the manifests are judged on a day the model still serves; the emulator lives after its last day
    args = ["--today", "2025-06-01", "prompts", "test", str(root), "--live", "--emulator", emulator.grpc_target]
    with pytest.raises(SystemExit) as exited:
        main(args)
    printed = capsys.readouterr()
    assert exited.value.code == 1, printed
    assert "ERROR greet / hello" in printed.out and "Traceback" not in printed.out + printed.err
    assert "gemini-2.0-flash retired on 2026-02-05 (genaiops model catalogue); move to gemini-2.5-flash" in printed.out
