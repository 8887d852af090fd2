"""The `Model` kind: a model in the Vertex AI Model Registry, uploaded from an artifact, or a reference to
a publisher model such as `publishers/google/models/gemini-3.5-flash` (which needs no deployment)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from controller.model.common import DeletionPolicy, Frozen, Metadata, Region, StrictBool, StrictInt

ALIAS_PATTERN = r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$"
_GEMINI = "publishers/google/models/gemini"  # served by Google; Google's open models (Gemma) can be deployed
EndpointApi = Literal["predict", "chatCompletions"]


class Port(Frozen):
    """A container port the serving container listens on."""

    container_port: StrictInt = Field(ge=1, le=65535)


class ServingContainer(Frozen):
    """The serving container Vertex AI runs for a registry model (`Model.container_spec`)."""

    image_uri: str = Field(min_length=1, description="Container image, e.g. us-docker.pkg.dev/.../serve:1.2")
    command: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    env: dict[str, str] = Field(default_factory=dict)
    ports: tuple[Port, ...] = ()
    predict_route: str | None = None
    health_route: str | None = None


class Upload(Frozen):
    """Upload a model artifact to the registry; a changed artifact becomes a new model version."""

    artifact_uri: str = Field(
        pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,221}(/.*)?$",
        description="Cloud Storage URI of the model artifact directory (gs://bucket/path).",
    )
    serving_container: ServingContainer
    version_aliases: tuple[str, ...] = Field(
        default=(),
        description="Aliases this version carries, such as `stable`. `default` is managed by Vertex AI.",
    )
    version_description: str | None = None

    @field_validator("version_aliases")
    @classmethod
    def _aliases_are_valid(cls, aliases: tuple[str, ...]) -> tuple[str, ...]:
        import re

        seen: set[str] = set()
        for alias in aliases:
            if alias == "default":
                raise ValueError("the alias 'default' is managed by Vertex AI and cannot be declared")
            if not re.match(ALIAS_PATTERN, alias):
                raise ValueError(
                    f"version alias {alias!r} must match {ALIAS_PATTERN} "
                    "(a lowercase letter first, then letters, digits or '-', ending in a letter or digit)"
                )
            if alias in seen:
                raise ValueError(f"version alias {alias!r} is listed twice")
            seen.add(alias)
        return aliases


class OpenModelDeploy(Frozen):
    """Serve an open model from Model Garden (`publishers/meta/models/...`) on your own endpoints: genaiops
    registers it in the Model Registry with the serving container and artifact its publisher model's deploy
    action names (ModelGardenService.GetPublisherModel), then Endpoint deployments serve it like any
    registry model, canaries included."""

    accept_eula: StrictBool = Field(
        default=False, description="Accept the model's licence (required by publishers that gate their models)."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment variables added to the publisher's serving container."
    )


class ModelSpec(Frozen):
    """What a `Model` declares: exactly one of `upload` or `publisher` (with `deploy` for an open model
    served on your endpoints)."""

    region: Region = "us-central1"
    display_name: str | None = Field(default=None, max_length=128)
    description: str | None = None
    upload: Upload | None = None
    publisher: str | None = Field(
        default=None,
        pattern=r"^publishers/[a-z0-9-]+/models/[a-zA-Z0-9._-]+(@[a-zA-Z0-9._-]+)?$",
        description="A publisher model, e.g. publishers/google/models/gemini-3.5-flash, or an open model such "
        "as publishers/meta/models/llama3_1@llama-3.1-8b-instruct (with `deploy`).",
    )
    deploy: OpenModelDeploy | None = Field(
        default=None,
        description="Register this open publisher model in the Model Registry so Endpoints can deploy it.",
    )
    endpoint_api: EndpointApi | None = Field(
        default=None,
        description="How applications call the endpoints serving this model: `chatCompletions` (OpenAI chat "
        "bodies on :rawPredict / :streamRawPredict, as vLLM and TGI containers serve; streamable) or `predict` "
        "(PredictionService.Predict instances). Default: chatCompletions for an open model with `deploy`, "
        "predict for an upload.",
    )
    deletion_policy: DeletionPolicy = "delete"
    suspend: StrictBool = Field(
        default=False, description="Pause reconciliation of this resource (plan and apply skip it)."
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> ModelSpec:
        if (self.upload is None) == (self.publisher is None):
            raise ValueError("a Model needs exactly one of 'upload' (a registry model) or 'publisher'")
        if self.deploy is not None and self.publisher is None:
            raise ValueError("'deploy' registers an open publisher model: give 'publisher' (not 'upload') with it")
        if self.deploy is not None and self.publisher is not None and self.publisher.startswith(_GEMINI):
            raise ValueError(
                "Google serves Gemini (no deployment needed): 'deploy' is for open models from Model Garden "
                "such as publishers/meta/models/llama3_1@llama-3.1-8b-instruct or publishers/google/models/gemma2@..."
            )
        if self.endpoint_api is not None and self.is_publisher:
            raise ValueError(
                "'endpointApi' says how endpoints serving a registry model are called; Google serves a publisher "
                "model itself (GenerateContent): give it with 'upload' or with 'publisher' and 'deploy'"
            )
        return self

    @property
    def is_publisher(self) -> bool:
        """Publisher models served by Google: no upload, no deployment, no traffic split. An open model with
        `deploy` is not one: it is registered and deployed like an upload."""
        return self.publisher is not None and self.deploy is None

    @property
    def is_open_model(self) -> bool:
        """An open Model Garden model registered (and deployed) from its publisher's deploy action."""
        return self.publisher is not None and self.deploy is not None

    @property
    def serves_chat(self) -> bool:
        """Endpoints serving this model answer OpenAI chat completions (`endpointApi`, by default for an open
        model: Model Garden's vLLM containers serve OpenAI's routes)."""
        if self.endpoint_api is not None:
            return self.endpoint_api == "chatCompletions"
        return self.is_open_model


class Model(Frozen):
    """A model genaiops manages (registry upload) or refers to (publisher model)."""

    api_version: Literal["genaiops/v1"]
    kind: Literal["Model"]
    metadata: Metadata
    spec: ModelSpec
