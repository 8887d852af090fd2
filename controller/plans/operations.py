"""Operations: the concrete API steps a resource change is carried out with, as plain frozen data.

A plan lists them in order per resource; the executor maps each to one port call. Values that only exist
after an earlier step (a new model version, a freshly deployed model's id) are named by placeholders:
`NEW_VERSION` for "the version this plan uploads", and `new:<deployment>` for "the deployed model this
plan deploys under that name". Every operation serialises to and from JSON for saved plans; fields added
later are written only when set, so a plan that does not use them reads exactly as it always did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.observed import ContainerSpec, DeploymentSpec, EndpointSettings, RequestLogging
from controller.plans.alert_operations import ALERT_OPERATIONS, AlertOperation, describe_alert
from controller.plans.later_fields import later_from_json, spec_from_json, written
from controller.rollout.strategy import split_at

NEW_VERSION = "@new"  # the version uploaded earlier in the same plan
NEW_DEPLOYED_PREFIX = "new:"


def new_deployed(deployment: str) -> str:
    """Placeholder for the id of the model this plan deploys as `deployment`."""
    return f"{NEW_DEPLOYED_PREFIX}{deployment}"


@dataclass(frozen=True)
class UploadModel:
    """Upload a model, or a new version of it (`parent_exists`), which becomes the default version."""

    model_id: str
    display_name: str
    description: str
    labels: Mapping[str, str]
    artifact_uri: str
    container: ContainerSpec
    aliases: tuple[str, ...]
    parent_exists: bool = False


@dataclass(frozen=True)
class UpdateModel:
    """Change a model's display name, description or labels (no new version)."""

    model_id: str
    display_name: str
    description: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class MergeAliases:
    """Move aliases onto a version (`NEW_VERSION` or an id) and drop the ones listed in `remove`."""

    model_id: str
    version: str
    add: tuple[str, ...]
    remove: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeleteModel:
    """Delete a model (every version). Runs after endpoints stop serving it."""

    model_id: str


@dataclass(frozen=True)
class CreateEndpoint:
    """Create an endpoint with a caller-chosen ID (idempotent: ALREADY_EXISTS means done, if managed), with
    its serving settings: request-response logging, and what only CreateEndpoint can set (dedicated
    endpoint, network, Private Service Connect, CMEK)."""

    endpoint_id: str
    display_name: str
    description: str
    labels: Mapping[str, str]
    settings: EndpointSettings = field(default_factory=EndpointSettings)


@dataclass(frozen=True)
class DeployModel:
    """Deploy `spec` with no traffic (the split is set by SetTraffic). `spec.version` is an id, "@alias",
    or NEW_VERSION; the executor resolves it before calling the port."""

    endpoint_id: str
    spec: DeploymentSpec


@dataclass(frozen=True)
class SetTraffic:
    """One UpdateEndpoint (with the observed etag): traffic split, labels, display name, description.

    Split keys are deployed model ids or `new:<deployment>` placeholders; values sum to 100 or the split
    is empty. `expect` is the split observed when planning: if the live split differs when this runs,
    someone else moved traffic and the resource is re-observed and re-planned instead. `names` maps the
    deployed model ids to their deployment names, for people (`traffic primary=80%, canary=20%`).
    """

    endpoint_id: str
    split: Mapping[str, int]
    labels: Mapping[str, str]
    display_name: str
    description: str
    expect: Mapping[str, int] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StartRollout:
    """Begin a canary: one UpdateEndpoint that carves the first step's weight out of the stable deployed
    model's share for the new one, and records the rollout state in the endpoint's labels.

    `split` is the endpoint split with the whole `share` still on `stable_id`; `canary` is the
    `new:<deployment>` placeholder of the model this plan deploys, or the id of one an earlier apply
    deployed at 0% before it was stopped. The rollout driver takes the later steps. `names` maps deployed
    model ids to deployment names, for people.
    """

    endpoint_id: str
    deployment: str
    revision: str
    stable_id: str
    canary: str
    share: int
    weight: int
    split: Mapping[str, int]
    labels: Mapping[str, str]
    display_name: str
    description: str
    expect: Mapping[str, int] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MutateDeployedModel:
    """Change replica counts of a deployed model in place, and (when not None) its autoscaling targets
    (`()`: back to Vertex AI's defaults) and container logging: all MutateDeployedModel can change."""

    endpoint_id: str
    deployed_model_id: str
    min_replicas: int
    max_replicas: int
    deployment: str = ""  # its deployment name, for people
    autoscaling: tuple[tuple[str, int], ...] | None = None  # (API metric name, target) pairs, sorted
    disable_container_logging: bool | None = None


@dataclass(frozen=True)
class SetRequestLogging:
    """One UpdateEndpoint of the endpoint's request-response logging (mask
    `predict_request_response_logging_config`); `logging` None turns it off. Runs after the traffic moved.
    Setting what is already set changes nothing, so a rerun after a kill simply sets it again."""

    endpoint_id: str
    logging: RequestLogging | None


@dataclass(frozen=True)
class UndeployModel:
    """Undeploy a model that no longer carries traffic (SetTraffic ran before it)."""

    endpoint_id: str
    deployed_model_id: str
    deployment: str


@dataclass(frozen=True)
class DeleteEndpoint:
    """Delete an endpoint once nothing is deployed on it."""

    endpoint_id: str


@dataclass(frozen=True)
class PublishPromptVersion:
    """Store one immutable prompt version and list it in the prompt's index. Content-addressed: when the
    version exists already, nothing is written twice. `document` is the stored version (its content and
    source file; apply stamps who, when and which commit)."""

    name: str
    version_id: str
    document: Mapping[str, Any]


@dataclass(frozen=True)
class MovePromptLabels:
    """Point labels of a prompt at a published version, in one compare-and-swap of its index. `expect` is
    where each label pointed when planning (None: absent), shown to reviewers; the manifests win a race."""

    name: str
    version_id: str
    labels: tuple[str, ...]
    expect: Mapping[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class StartPromptRollout:
    """Start a canary of a published version on one label, in one compare-and-swap of the prompt's index:
    the label keeps pointing at `stable` and the index records the candidate with the first step's `weight`
    (the runtime client routes by it; the rollout driver moves it). Refused when the label no longer
    points at `stable`."""

    name: str
    version_id: str
    label: str
    stable: str
    weight: int


@dataclass(frozen=True)
class UploadDataset:
    """Upload a dataset version to the target's bucket under its content hash, unless it is there already
    (never overwritten: a changed file is another object)."""

    name: str
    digest: str
    path: str  # the local file, as resolved when planning
    uri: str


@dataclass(frozen=True)
class StartTuningJob:
    """Start one supervised tuning job for a TuningJob's spec (`spec_hash`: its spec and its datasets'
    content) and `attempt`. Vertex AI names jobs itself, so the step first lists the jobs labelled with this
    hash and attempt: a retried, re-run or raced start finds the job instead of starting another."""

    name: str
    region: str
    spec_hash: str
    attempt: int
    base_model: str
    training_uri: str
    validation_uri: str | None
    epochs: int | None
    learning_rate_multiplier: float | None
    adapter_size: int | None
    display_name: str
    description: str
    labels: Mapping[str, str] = field(default_factory=dict)
    estimated_tokens: int | None = None  # training tokens: examples x tokens x epochs (an estimate)


@dataclass(frozen=True)
class GateCase:
    """One call of the evaluation gate: the input sent to the tuned model, and what its answer is held to
    (the expected answer for the gate's metrics, or a prompt test's assertions as JSON)."""

    source: str  # `dataset:<name>:<line>` or `prompt:<name>/<test>`
    text: str
    system_instruction: str | None = None
    expected: str | None = None
    assertions: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class EvaluateTunedModel:
    """Run the gate on a succeeded job's tuned model: every case against its endpoint, the metrics (name,
    scorer, min) over the dataset cases, the prompt tests' assertions; record passed or failed on the tuned
    model (labels) and in the audit log and a report."""

    name: str
    job: str
    tuned_model: str
    endpoint: str
    gate_hash: str
    cases: tuple[GateCase, ...]
    metrics: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class SubmitPipelineJob:
    """Submit one Vertex AI Pipelines run with the id `job_id` (the manifest name and its spec hash): an
    existing run with that id means it was submitted already."""

    name: str
    region: str
    job_id: str
    spec_hash: str
    pipeline_spec: Mapping[str, Any]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    pipeline_root: str | None = None
    service_account: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreatePipelineSchedule:
    """Create one Vertex AI schedule (ScheduleService) that submits the Pipeline's run on `cron`, named by
    the server and found again by its `display_name` (the manifest name and its spec hash); then delete
    `replaces`, the schedules of this manifest's older specs. The step lists first: an existing schedule
    with this display name means it was created already (a lost reply, a re-run after a kill)."""

    name: str
    region: str
    display_name: str
    spec_hash: str
    cron: str
    pipeline_spec: Mapping[str, Any]
    parameters: Mapping[str, Any] = field(default_factory=dict)
    pipeline_root: str | None = None
    service_account: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    replaces: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeletePipelineSchedule:
    """Delete a schedule of an older spec of a Pipeline (or of a Pipeline that no longer has `schedule`);
    one already gone is fine."""

    name: str
    region: str
    schedule: str  # projects/P/locations/L/schedules/ID


Operation = (
    UploadModel
    | UpdateModel
    | MergeAliases
    | DeleteModel
    | CreateEndpoint
    | DeployModel
    | SetTraffic
    | StartRollout
    | MutateDeployedModel
    | SetRequestLogging
    | UndeployModel
    | DeleteEndpoint
    | PublishPromptVersion
    | MovePromptLabels
    | StartPromptRollout
    | UploadDataset
    | StartTuningJob
    | EvaluateTunedModel
    | SubmitPipelineJob
    | CreatePipelineSchedule
    | DeletePipelineSchedule
    | AlertOperation
)
_TYPES: dict[str, type[Any]] = {
    t.__name__: t
    for t in (
        UploadModel,
        UpdateModel,
        MergeAliases,
        DeleteModel,
        CreateEndpoint,
        DeployModel,
        SetTraffic,
        StartRollout,
        MutateDeployedModel,
        SetRequestLogging,
        UndeployModel,
        DeleteEndpoint,
        PublishPromptVersion,
        MovePromptLabels,
        StartPromptRollout,
        UploadDataset,
        StartTuningJob,
        EvaluateTunedModel,
        SubmitPipelineJob,
        CreatePipelineSchedule,
        DeletePipelineSchedule,
        *ALERT_OPERATIONS,
    )
}


def describe(op: Operation) -> str:
    """A short human line for progress output and audit logs."""
    match op:
        case UploadModel():
            what = "new version of" if op.parent_exists else "model"
            return f"upload {what} {op.model_id} from {op.artifact_uri or op.container.image_uri}"  # open: no artifact
        case UpdateModel():
            return f"update model {op.model_id} metadata"
        case MergeAliases():
            return f"set aliases {', '.join(op.add)} on {op.model_id}{_version_suffix(op.version)}"
        case DeleteModel():
            return f"delete model {op.model_id}"
        case CreateEndpoint():
            return f"create endpoint {op.endpoint_id}"
        case DeployModel():
            what = f"{op.spec.model_id}{_version_suffix(op.spec.version)} as {op.spec.name}"
            return f"deploy {what} on {op.endpoint_id} (0% traffic)"
        case SetTraffic():
            return f"update endpoint {op.endpoint_id}: traffic {split_text(op.split, op.names)}"
        case StartRollout():
            first = split_at(op.split, stable=op.stable_id, canary=op.canary, share=op.share, weight=op.weight)
            roles = {op.stable_id: f"{op.deployment} (stable)", op.canary: f"{op.deployment} (canary)"}
            return (
                f"start canary of {op.deployment} on {op.endpoint_id}: {op.weight}% of its {op.share}% share "
                f"to the new deployed model: traffic {split_text(first, {**op.names, **roles})}"
            )
        case MutateDeployedModel():
            which = (
                f"{op.deployment} (deployed model {op.deployed_model_id})" if op.deployment else op.deployed_model_id
            )
            return f"set replicas of {which} on {op.endpoint_id} to {op.min_replicas}..{op.max_replicas}{_mutated(op)}"
        case SetRequestLogging():
            if op.logging is None:
                return f"turn off request-response logging of {op.endpoint_id}"
            to = f" to {op.logging.bigquery_table}" if op.logging.bigquery_table else ""
            return f"log {op.logging.sampling_rate:g} of the requests of {op.endpoint_id}{to}"
        case UndeployModel():
            return f"undeploy {op.deployment} ({op.deployed_model_id}) from {op.endpoint_id}"
        case DeleteEndpoint():
            return f"delete endpoint {op.endpoint_id}"
        case PublishPromptVersion():
            return f"publish version {op.version_id} of prompt {op.name}"
        case MovePromptLabels():
            plural = "s" if len(op.labels) != 1 else ""
            return f"point label{plural} {', '.join(op.labels)} of prompt {op.name} at {op.version_id}"
        case UploadDataset():
            return f"upload version {op.digest[:12]} of dataset {op.name} to {op.uri}"
        case StartTuningJob():
            tokens = f", about {op.estimated_tokens:,} training tokens" if op.estimated_tokens else ""
            again = f" (attempt {op.attempt})" if op.attempt > 1 else ""
            return f"start tuning job {op.name}{again}: {op.base_model} on {op.training_uri}{tokens}"
        case EvaluateTunedModel():
            tests = sum(1 for c in op.cases if c.expected is None)
            examples = len(op.cases) - tests
            metrics = ", ".join(f"{m['name']} >= {m['min']}" for m in op.metrics)
            held = f" ({metrics})" if metrics else ""
            return f"evaluate the tuned model of {op.name}: {examples} dataset examples{held}, {tests} prompt tests"
        case SubmitPipelineJob():
            return f"submit pipeline run {op.job_id} of {op.name}"
        case CreatePipelineSchedule():
            old = len(op.replaces)
            then = f", then delete {old} older schedule{'s' if old != 1 else ''}" if old else ""
            return f"schedule pipeline runs of {op.name} on cron {op.cron!r} ({op.display_name}){then}"
        case DeletePipelineSchedule():
            return f"delete pipeline schedule {op.schedule} of {op.name}"
        case StartPromptRollout():
            return (
                f"start canary of prompt {op.name} on label {op.label}: {op.weight}% of its requests to "
                f"{op.version_id}, the rest stay on {op.stable}"
            )
        case _:
            return describe_alert(op)


def split_text(split: Mapping[str, int], names: Mapping[str, str]) -> str:
    """`primary=80%, canary=20%`: each deployed model by its name in `names` (a `new:<deployment>`
    placeholder by its deployment); the id is added where two share a name, and stands alone when the
    name is not known."""
    if not split:
        return "empty"

    def name(key: str) -> str:
        if key in names:
            return names[key]
        return key.removeprefix(NEW_DEPLOYED_PREFIX) if key.startswith(NEW_DEPLOYED_PREFIX) else ""

    shown = [name(key) for key in split]
    labels = [
        (f"{label} (new)" if key.startswith(NEW_DEPLOYED_PREFIX) else f"{label} ({key})")
        if label and shown.count(label) > 1
        else label or key
        for key, label in zip(split, shown, strict=True)
    ]
    return ", ".join(f"{label}={share}%" for label, share in zip(labels, split.values(), strict=True))


def _mutated(op: MutateDeployedModel) -> str:
    """What a mutation changes beyond replicas: `, autoscaling targets cpu/utilization=70`..."""
    extra = ""
    if op.autoscaling is not None:
        targets = ", ".join(f"{name.rsplit('online/', 1)[-1]}={target}" for name, target in op.autoscaling)
        extra += f", autoscaling targets {targets or 'Vertex AI defaults'}"
    if op.disable_container_logging is not None:
        extra += f", container logging {'off' if op.disable_container_logging else 'on'}"
    return extra


def _version_suffix(version: str) -> str:
    if version == NEW_VERSION:
        return " (new version)"
    return version if version.startswith("@") else f"@{version}"


# A DeployModel's spec is written flat, in the field names plan files and `plan --output json` have always
# used (format 1 only ever gains fields): `deployment` is the spec's name, the rest keep their names.
_DEPLOY_NAMES = {"name": "deployment"}


def to_json(op: Operation) -> dict[str, Any]:
    """`{"op": "DeployModel", ...fields}`; tuples become lists, mappings plain dicts."""
    if isinstance(op, DeployModel):
        spec = {_DEPLOY_NAMES.get(k, k): v for k, v in written(op.spec).items()}
        return {"op": "DeployModel", "endpoint_id": op.endpoint_id, **spec}
    return {"op": type(op).__name__, **written(op)}


def _deploy_from_json(fields: dict[str, Any]) -> DeployModel:
    endpoint_id = fields.pop("endpoint_id")
    names = {v: k for k, v in _DEPLOY_NAMES.items()}
    return DeployModel(endpoint_id, spec_from_json({names.get(k, k): v for k, v in fields.items()}))


def from_json(data: Mapping[str, Any]) -> Operation:
    """Inverse of `to_json`; raises ValueError on an unknown or malformed operation."""
    fields = dict(data)
    name = fields.pop("op", None)
    kind = _TYPES.get(str(name))
    if kind is None:
        raise ValueError(f"unknown operation {name!r}")
    if kind is UploadModel:
        container = dict(fields["container"])
        container["env"] = tuple(tuple(pair) for pair in container.get("env", ()))
        for key in ("command", "args", "ports"):
            container[key] = tuple(container.get(key, ()))
        fields["container"] = ContainerSpec(**container)
        fields["aliases"] = tuple(fields["aliases"])
    if kind is MergeAliases:
        fields["add"], fields["remove"] = tuple(fields["add"]), tuple(fields.get("remove", ()))
    if kind is MovePromptLabels:
        fields["labels"] = tuple(fields["labels"])
    if kind is CreatePipelineSchedule:
        fields["replaces"] = tuple(fields.get("replaces", ()))
    later_from_json(kind.__name__, fields)
    if kind is EvaluateTunedModel:
        fields["cases"] = tuple(
            GateCase(**{**c, "assertions": tuple(c.get("assertions", ()))}) for c in fields.get("cases", ())
        )
        fields["metrics"] = tuple(fields.get("metrics", ()))
    try:
        op: Operation = _deploy_from_json(fields) if kind is DeployModel else kind(**fields)
    except (TypeError, KeyError) as err:
        raise ValueError(f"malformed {name}: {err}") from err
    return op


__all__ = ["NEW_VERSION", "Operation", "describe", "from_json", "new_deployed", "split_text", "to_json"]
