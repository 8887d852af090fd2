"""`genaiops emulator ...`: run the local Vertex AI / Cloud Monitoring / Cloud Storage emulator.

`genaiops emulator start` serves in the foreground until Ctrl-C (or SIGTERM), printing its addresses and
what a client must set to use it (`emulator_group`, registered in `cli/main.py`).
"""

from __future__ import annotations

import signal
import threading
from datetime import date
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from controller.cli.calendar_opts import day_option, pinned_today

if TYPE_CHECKING:
    from controller.emulator.server import Emulator

DEFAULT_PORT = 8680
PORT = click.IntRange(0, 65535)


def _client_instructions(emulator: Emulator) -> list[str]:
    lines = [
        f"genaiops emulator running (project {emulator.project}, location {emulator.location})",
        f"  gRPC  {emulator.grpc_target}   Vertex AI (aiplatform_v1, Model Garden), Operations, Cloud Monitoring "
        "(monitoring_v3: metrics, alert policies, notification channels), Secret Manager (secretmanager_v1)",
    ]
    if emulator.rest_port:
        lines.append(f"  REST  {emulator.rest_endpoint}   Vertex AI for the high-level SDK and google-genai (Gemini)")
    if emulator.storage_port:
        lines.append(f"  GCS   {emulator.storage_host}   Cloud Storage JSON API")
    lines += ["", "Point clients at it:"]
    if emulator.storage_port:
        lines.append(f"  export STORAGE_EMULATOR_HOST={emulator.storage_host}")
    if emulator.rest_port:
        lines.append(
            f'  aiplatform.init(project="{emulator.project}", location="{emulator.location}", '
            f'api_endpoint="{emulator.rest_endpoint}", api_transport="rest", credentials=AnonymousCredentials())'
        )
        lines.append(
            f'  genai.Client(vertexai=True, project="{emulator.project}", location="{emulator.location}", '
            'credentials=google.oauth2.credentials.Credentials(token="x"), '
            f'http_options=types.HttpOptions(base_url="{emulator.rest_endpoint}"))'
        )
    lines += [
        f'  channel = grpc.insecure_channel("{emulator.grpc_target}")',
        "  aiplatform_v1.EndpointServiceClient(transport=EndpointServiceGrpcTransport(channel=channel))",
    ]
    day, source = emulator.calendar.today_and_source()
    lines += [
        "",
        f"Today is {day.isoformat()} ({source}): Gemini models past their last day answer 404 NOT_FOUND; "
        "SetToday on genaiops.emulator.v1.Admin moves the day.",
        "",
        "Press Ctrl-C to stop.",
    ]
    return lines


@click.group("emulator")
def emulator_group() -> None:
    """The local Vertex AI emulator the real Google clients talk to."""


@emulator_group.command("start")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=PORT, default=DEFAULT_PORT, show_default=True, help="gRPC port (0: any free port).")
@click.option("--rest-port", type=PORT, default=None, help="REST port for the SDK [default: port+1; 0: any].")
@click.option("--storage-port", type=PORT, default=None, help="Cloud Storage port [default: port+2; 0: any].")
@click.option(
    "--state",
    "state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON file holding the emulated cloud (kept across runs); in memory if omitted.",
)
@click.option(
    "--traffic",
    "traffic",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Synthetic predictions per second per endpoint with a deployed model.",
)
@click.option(
    "--fault",
    "faults",
    multiple=True,
    metavar="SPEC",
    help="Inject faults, e.g. 'UpdateEndpoint:rate=0.3:code=UNAVAILABLE', '*:latency_ms=20', "
    "'GetEndpoint:fail_next=2:code=INTERNAL', 'DeployModel:lost_reply=0.3' (the call lands, the reply is "
    "lost), 'UpdateEndpoint:hold_ms=5000' (the call lands, the reply waits). Repeatable.",
)
@click.option(
    "--lro-delay",
    "lro_delay",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Seconds a long-running operation (deploy, create, ...) stays pending.",
)
@click.option("--project", default="local-project", show_default=True)
@click.option("--location", default="us-central1", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for routing, errors and ids.")
@click.option(
    "--min-alignment",
    type=click.FloatRange(min=1),
    default=1.0,
    show_default=True,
    help="Smallest Monitoring alignment period in seconds. The real API's is 60; 1 lets canary analysis use "
    "short demo intervals (genaiops queries an emulator with 1 s windows).",
)
@click.option(
    "--gemini-model",
    "gemini_models",
    multiple=True,
    metavar="ID=PARAMS",
    help="Emulate a publisher model (any id, e.g. gemini-3.8-flash or a made-up "
    "gemini-3.8-flash-bad) with default behaviour: PARAMS is KEY=VALUE pairs joined by ';' (quote it for the "
    "shell). Keys: error_rate (0..1), error_code (429|500|503), latency_ms, latency_jitter_ms, block_rate "
    "(0..1, answer blocked for safety), prompt_block_rate (0..1), thinking_tokens, cached_ratio (0..1), chunks "
    "(stream events), output_tokens (answer length in tokens), output_tokens_jitter. E.g. "
    "'gemini-3.8-flash-bad=error_rate=0.3;latency_ms=400;block_rate=0.2;output_tokens=300'. Parameters after "
    "';' in a call's model name override these; responses report the id as modelVersion (a catalogue id its "
    "version). Any other gemini-* id is served healthy; a catalogue model past its last day (see --today) "
    "answers 404. Repeatable.",
)
@click.option(
    "--today",
    envvar="GENAIOPS_TODAY",
    metavar="YYYY-MM-DD",
    callback=day_option,
    help="The day the emulator starts on: Gemini models past their last day (and models tuned from them) answer "
    "404, as Vertex AI does (default: genaiops --today, else the current UTC date; the admin RPC SetToday moves it "
    "while running).",
)
@click.option(
    "--min-point-spacing",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds between CreateTimeSeries points of one series (Cloud Monitoring documents 10).",
)
def start(
    *,
    host: str,
    port: int,
    rest_port: int | None,
    storage_port: int | None,
    state: Path | None,
    traffic: float,
    faults: tuple[str, ...],
    lro_delay: float,
    project: str,
    location: str,
    seed: int,
    min_alignment: float,
    gemini_models: tuple[str, ...],
    today: date | None,
    min_point_spacing: float,
) -> None:
    """Serve the emulator in the foreground until Ctrl-C."""
    from controller.emulator.faults import FaultSpecError, parse_fault
    from controller.emulator.server import Emulator
    from controller.emulator.vertex.generate import check_models

    for spec in faults:
        try:
            parse_fault(spec)
        except FaultSpecError as err:
            raise click.BadParameter(str(err), param_hint="--fault") from err
    models: dict[str, str] = {}
    for spec in gemini_models:
        model_id, sep, params = spec.partition("=")
        if not sep or not model_id:
            raise click.BadParameter(f"{spec!r}: expected ID=PARAMS", param_hint="--gemini-model")
        models[model_id] = params
    try:
        check_models(models)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--gemini-model") from err
    try:
        emulator = Emulator(
            project=project,
            location=location,
            host=host,
            port=port,
            rest_port=rest_port if rest_port is not None else (port + 1 if port else 0),
            storage_port=storage_port if storage_port is not None else (port + 2 if port else 0),
            state_path=state,
            traffic_rps=traffic,
            faults=faults,
            lro_delay_s=lro_delay,
            seed=seed,
            min_alignment_period_s=min_alignment,
            min_point_spacing_s=min_point_spacing,
            gemini_models=models,
            today=today if today is not None else pinned_today(),
        )
        emulator.start()
    except (OSError, RuntimeError, ValueError) as err:
        raise click.ClickException(f"cannot start the emulator: {err}") from err
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        click.echo("\n".join(_client_instructions(emulator)))
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        click.echo("emulator stopped")
