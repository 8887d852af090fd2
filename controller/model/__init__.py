"""Manifest kinds (pydantic, frozen): the desired state users declare in YAML.

`KINDS` maps each `kind:` to its model class; `Manifest` is the union of them all.
"""

from __future__ import annotations

from controller.model.alert import Alert, NotificationChannel
from controller.model.analysis import Analysis, Metric, MetricQuery
from controller.model.budget import Budget
from controller.model.common import (
    API_VERSION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    MAX_DURATION_S,
    RESERVED_LABEL_PREFIX,
    Metadata,
    check_duration,
    duration_seconds,
    is_reserved_label,
)
from controller.model.endpoint import Deployment, Endpoint, EndpointSpec, Rollout, Step, split_model_ref
from controller.model.environment import Environment, Override
from controller.model.model_lifecycle import ModelLifecycle
from controller.model.price_book import PriceBook
from controller.model.prompt import Assertion, GenerationConfig, Prompt, PromptSpec, PromptTest, Variable
from controller.model.registry_model import Model, ModelSpec, ServingContainer, Upload
from controller.model.tuning import Dataset, Pipeline, TuningJob

Manifest = (
    Model
    | Endpoint
    | Prompt
    | Dataset
    | TuningJob
    | Pipeline
    | Budget
    | PriceBook
    | Environment
    | Alert
    | NotificationChannel
    | ModelLifecycle
)
KINDS: dict[str, type[Manifest]] = {
    "Model": Model,
    "Endpoint": Endpoint,
    "Prompt": Prompt,
    "Dataset": Dataset,
    "TuningJob": TuningJob,
    "Pipeline": Pipeline,
    "Budget": Budget,
    "PriceBook": PriceBook,
    "Environment": Environment,
    "Alert": Alert,
    "NotificationChannel": NotificationChannel,
    "ModelLifecycle": ModelLifecycle,
}

__all__ = [
    "API_VERSION",
    "KINDS",
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "MAX_DURATION_S",
    "RESERVED_LABEL_PREFIX",
    "Alert",
    "Analysis",
    "Assertion",
    "Budget",
    "Dataset",
    "Deployment",
    "Endpoint",
    "EndpointSpec",
    "Environment",
    "GenerationConfig",
    "Manifest",
    "Metadata",
    "Metric",
    "MetricQuery",
    "Model",
    "ModelLifecycle",
    "ModelSpec",
    "NotificationChannel",
    "Override",
    "Pipeline",
    "PriceBook",
    "Prompt",
    "PromptSpec",
    "PromptTest",
    "Rollout",
    "ServingContainer",
    "Step",
    "TuningJob",
    "Upload",
    "Variable",
    "check_duration",
    "duration_seconds",
    "is_reserved_label",
    "split_model_ref",
]
