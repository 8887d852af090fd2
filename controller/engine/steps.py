"""One step at a time: map a plan operation to port calls, with the idempotency and safety checks
that make a retried or resumed apply converge without duplicates.

- Creates are idempotent: ALREADY_EXISTS on a resource genaiops owns counts as done; one it does not own
  is a permanent error (never adopted, never changed).
- A retried deploy or upload first looks for the result of an earlier attempt that landed.
- A traffic update checks the live split is still the one planned against (else: conflict, re-plan), and
  that every model it routes to is deployed.
- An undeploy is refused while the deployed model carries traffic.
- Request-response logging is set by one UpdateEndpoint of its config alone; setting it again is harmless,
  so its kill points (before the call lands, after it landed but before the reply) both converge on a
  rerun: the next plan sees the live config and sets it, or finds nothing to do.
- Prompt versions are content-addressed (created only if absent) and labels move by compare-and-swap of
  the prompt's index, so a retried publish or label move writes nothing twice.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import assert_never

from controller.engine import tuning_steps
from controller.engine.alert_steps import run_alert_operation
from controller.errors import AlreadyExistsError, ConflictError, NotFoundError, PermanentError
from controller.observed import COMMIT_LABEL, ObservedEndpoint
from controller.plans.alert_operations import (
    CreateAlertPolicy,
    CreateNotificationChannel,
    DeleteAlertPolicy,
    DeleteNotificationChannel,
    UpdateAlertPolicy,
    UpdateNotificationChannel,
)
from controller.plans.operations import (
    NEW_DEPLOYED_PREFIX,
    NEW_VERSION,
    CreateEndpoint,
    CreatePipelineSchedule,
    DeleteEndpoint,
    DeleteModel,
    DeletePipelineSchedule,
    DeployModel,
    EvaluateTunedModel,
    MergeAliases,
    MovePromptLabels,
    MutateDeployedModel,
    Operation,
    PublishPromptVersion,
    SetRequestLogging,
    SetTraffic,
    StartPromptRollout,
    StartRollout,
    StartTuningJob,
    SubmitPipelineJob,
    UndeployModel,
    UpdateModel,
    UploadDataset,
    UploadModel,
)
from controller.ports import AlertsPort, TuningPort, VertexPort
from controller.prompts.canary import new_rollout, start
from controller.prompts.prompt_plan import version_from
from controller.prompts.store import PromptStore, list_version, point_labels
from controller.prompts.version import Provenance
from controller.rollout.state import Phase, RolloutState, to_labels, without_rollout
from controller.rollout.strategy import split_at


@dataclass
class Context:
    """State shared by the operations of one resource (and, for new versions, of one apply)."""

    region: str
    ports: Mapping[str, VertexPort]
    new_versions: dict[tuple[str, str], str]
    lock: threading.Lock
    deployed: dict[str, str] = field(default_factory=dict)  # "new:<deployment>" -> deployed model id
    now: Callable[[], float] = time.time
    commit: str | None = None  # recorded as the genaiops-commit label on everything this apply writes
    prompts: PromptStore | None = None
    author: str = ""  # who applies, recorded on prompt versions and label moves
    tuning: TuningPort | None = None  # tuning jobs, pipelines and the datasets' bucket
    report_dir: Path | None = None  # where evaluation gate reports are written
    alerts: AlertsPort | None = None  # Cloud Monitoring alert policies and channels, Secret Manager
    new_channels: dict[str, str] = field(default_factory=dict)  # channel manifest -> name created in this apply

    @property
    def port(self) -> VertexPort:
        """The Vertex AI port of this resource's region (opened on first use: prompts never need one)."""
        return self.ports[self.region]

    def provenance(self) -> Provenance:
        """Who publishes, when (the injected clock) and from which commit."""
        created = datetime.fromtimestamp(self.now(), UTC).isoformat(timespec="seconds")
        return Provenance(created=created, commit=self.commit or "", author=self.author)

    def prompt_store(self) -> PromptStore:
        """The prompt store; PermanentError when the target has none."""
        if self.prompts is None:
            raise PermanentError("this target has no prompt store to publish prompts to")
        return self.prompts

    def stamp(self, labels: Mapping[str, str]) -> dict[str, str]:
        """Labels plus the commit being applied (label values allow at most 63 characters)."""
        return {**labels, COMMIT_LABEL: self.commit[:40]} if self.commit else dict(labels)

    def version(self, model_id: str, ref: str) -> str:
        """The concrete version id for an operation's version field."""
        if ref == NEW_VERSION:
            with self.lock:
                found = self.new_versions.get((self.region, model_id))
            if found is None:
                raise PermanentError(f"no new version of {model_id} was uploaded in this apply")
            return found
        if ref.startswith("@"):
            resolved = self.port.resolve_version(model_id, ref)
            if resolved is None:
                raise PermanentError(f"model {model_id} has no version {ref}")
            return resolved
        return ref

    def deployed_id(self, key: str) -> str:
        """A deployed model id, resolving `new:<deployment>` placeholders."""
        if key.startswith(NEW_DEPLOYED_PREFIX):
            found = self.deployed.get(key)
            if found is None:
                raise PermanentError(f"{key[len(NEW_DEPLOYED_PREFIX) :]!r} was not deployed in this apply")
            return found
        return key


def _endpoint(ctx: Context, endpoint_id: str) -> ObservedEndpoint:
    live = ctx.port.get_endpoint(endpoint_id)
    if live is None:
        raise PermanentError(f"endpoint {endpoint_id} does not exist")
    return live


def _upload(op: UploadModel, ctx: Context, *, retrying: bool) -> str:
    def landed() -> str | None:
        live = ctx.port.get_model(op.model_id)
        if live is None:
            return None
        if not live.managed:
            raise PermanentError(f"model {op.model_id} exists but is not managed by genaiops; not touching it")
        version = live.default_version
        same = version.artifact_uri == op.artifact_uri and version.container.image_uri == op.container.image_uri
        return version.version_id if same else None

    version_id = landed() if retrying else None
    if version_id is None:
        try:
            version_id = ctx.port.upload_model(
                model_id=op.model_id,
                parent_exists=op.parent_exists,
                display_name=op.display_name,
                description=op.description,
                labels=ctx.stamp(op.labels),
                artifact_uri=op.artifact_uri,
                container=op.container,
                aliases=op.aliases,
            )
        except AlreadyExistsError:
            version_id = landed()
            if version_id is None:
                raise PermanentError(f"model {op.model_id} already exists with another artifact") from None
    with ctx.lock:
        ctx.new_versions[(ctx.region, op.model_id)] = version_id
    return version_id


def _create_endpoint(op: CreateEndpoint, ctx: Context) -> str:
    try:
        ctx.port.create_endpoint(
            endpoint_id=op.endpoint_id,
            display_name=op.display_name,
            description=op.description,
            labels=ctx.stamp(op.labels),
            settings=op.settings,
        )
    except AlreadyExistsError:
        live = _endpoint(ctx, op.endpoint_id)
        if not live.managed:
            raise PermanentError(
                f"endpoint {op.endpoint_id} exists but is not managed by genaiops (no managed-by label); "
                "not touching it"
            ) from None
    return op.endpoint_id


def _deploy(op: DeployModel, ctx: Context, *, retrying: bool) -> str:
    spec = replace(op.spec, version=ctx.version(op.spec.model_id, op.spec.version))
    placeholder = NEW_DEPLOYED_PREFIX + spec.name
    if retrying:  # an earlier attempt may have landed although its answer was lost
        live = _endpoint(ctx, op.endpoint_id)
        known = set(ctx.deployed.values())
        for deployed in live.deployed_models:
            same = (deployed.spec.name, deployed.spec.model_id, deployed.spec.version) == (
                spec.name,
                spec.model_id,
                spec.version,
            )
            if same and deployed.id not in known and live.traffic_split.get(deployed.id, 0) == 0:
                ctx.deployed[placeholder] = deployed.id
                return deployed.id
    deployed_id = ctx.port.deploy_model(endpoint_id=op.endpoint_id, spec=spec)
    ctx.deployed[placeholder] = deployed_id
    return deployed_id


def check_split(live: ObservedEndpoint, split: dict[str, int]) -> None:
    """The safety rule for every split sent: sums to 100 (or is empty) and names only deployed models."""
    missing = sorted(set(split) - {d.id for d in live.deployed_models})
    if missing:
        raise PermanentError(f"refusing to route traffic on {live.endpoint_id} to models not deployed: {missing}")
    if split and sum(split.values()) != 100:
        raise PermanentError(f"refusing a traffic split that sums to {sum(split.values())}, not 100")


def _move(
    ctx: Context,
    endpoint_id: str,
    *,
    split: dict[str, int],
    expect: dict[str, int],
    labels: dict[str, str],
    display_name: str,
    description: str,
) -> str:
    live = _endpoint(ctx, endpoint_id)
    current = {k: v for k, v in live.traffic_split.items() if v > 0}
    if current not in (expect, split):
        raise ConflictError(f"traffic on {endpoint_id} moved since planning (now {current}, planned from {expect})")
    check_split(live, split)
    ctx.port.update_endpoint(
        endpoint_id=endpoint_id,
        etag=live.etag,
        traffic_split=split,
        labels=ctx.stamp(labels),
        display_name=display_name,
        description=description,
    )
    return ", ".join(f"{k}={v}%" for k, v in split.items()) or "empty"


def _set_traffic(op: SetTraffic, ctx: Context) -> str:
    return _move(
        ctx,
        op.endpoint_id,
        split={ctx.deployed_id(k): v for k, v in op.split.items()},
        expect={ctx.deployed_id(k): v for k, v in op.expect.items()},
        labels=dict(op.labels),
        display_name=op.display_name,
        description=op.description,
    )


def _start_rollout(op: StartRollout, ctx: Context) -> str:
    canary = ctx.deployed_id(op.canary)
    split = split_at(op.split, stable=op.stable_id, canary=canary, share=op.share, weight=op.weight)
    state = RolloutState(
        deployment=op.deployment,
        revision=op.revision,
        phase=Phase.PROGRESSING,
        step=0,
        step_started=math.ceil(ctx.now()),  # round up: a pause never ends early
        canary_id=canary,
        stable_id=op.stable_id,
    )
    return _move(
        ctx,
        op.endpoint_id,
        split=split,
        expect=dict(op.expect),
        labels={**without_rollout(op.labels), **to_labels(state)},
        display_name=op.display_name,
        description=op.description,
    )


def _undeploy(op: UndeployModel, ctx: Context) -> str:
    live = ctx.port.get_endpoint(op.endpoint_id)
    if live is None or live.deployed(op.deployed_model_id) is None:
        return "already undeployed"
    share = live.traffic_split.get(op.deployed_model_id, 0)
    if share > 0:
        raise ConflictError(
            f"{op.deployment} ({op.deployed_model_id}) still carries {share}% traffic; not undeploying it"
        )
    try:
        ctx.port.undeploy_model(endpoint_id=op.endpoint_id, deployed_model_id=op.deployed_model_id)
    except NotFoundError:
        return "already undeployed"
    return op.deployed_model_id


def _publish(op: PublishPromptVersion, ctx: Context) -> str:
    try:
        version = version_from(op, ctx.provenance())
    except ValueError as err:
        raise PermanentError(str(err)) from err
    created = list_version(ctx.prompt_store(), version)
    return "published" if created else "already published"


def _move_labels(op: MovePromptLabels, ctx: Context) -> str:
    moved = point_labels(ctx.prompt_store(), op.name, op.version_id, op.labels, ctx.provenance())
    return ", ".join(f"{label} {old or 'new'} -> {op.version_id}" for label, old in sorted(moved.items())) or "in place"


def _start_prompt_rollout(op: StartPromptRollout, ctx: Context) -> str:
    record = new_rollout(label=op.label, stable=op.stable, candidate=op.version_id, weight=op.weight, now=ctx.now())
    ctx.prompt_store().update_index(op.name, lambda index: start(index, record, name=op.name))
    return f"{op.label}: {op.version_id} at {op.weight}%"


def run_operation(op: Operation, ctx: Context, *, retrying: bool = False) -> str:
    """Carry out one operation; returns a short result for the audit log. Raises genaiops errors."""
    match op:
        case UploadModel():
            return _upload(op, ctx, retrying=retrying)
        case UpdateModel():
            ctx.port.update_model(
                model_id=op.model_id,
                display_name=op.display_name,
                description=op.description,
                labels=ctx.stamp(op.labels),
            )
            return op.model_id
        case MergeAliases():
            version = ctx.version(op.model_id, op.version)
            ctx.port.merge_version_aliases(
                model_id=op.model_id, version_id=version, aliases=(*op.add, *(f"-{a}" for a in op.remove))
            )
            return version
        case DeleteModel():
            try:
                ctx.port.delete_model(op.model_id)
            except NotFoundError:
                return "already deleted"
            return op.model_id
        case CreateEndpoint():
            return _create_endpoint(op, ctx)
        case DeployModel():
            return _deploy(op, ctx, retrying=retrying)
        case SetTraffic():
            return _set_traffic(op, ctx)
        case StartRollout():
            return _start_rollout(op, ctx)
        case MutateDeployedModel():
            ctx.port.mutate_deployed_model(
                endpoint_id=op.endpoint_id,
                deployed_model_id=op.deployed_model_id,
                min_replicas=op.min_replicas,
                max_replicas=op.max_replicas,
                autoscaling=op.autoscaling,
                disable_container_logging=op.disable_container_logging,
            )
            return op.deployed_model_id
        case SetRequestLogging():
            ctx.port.update_request_logging(op.endpoint_id, op.logging)
            return "off" if op.logging is None else f"sampling {op.logging.sampling_rate:g}"
        case UndeployModel():
            return _undeploy(op, ctx)
        case DeleteEndpoint():
            try:
                ctx.port.delete_endpoint(op.endpoint_id)
            except NotFoundError:
                return "already deleted"
            return op.endpoint_id
        case PublishPromptVersion():
            return _publish(op, ctx)
        case MovePromptLabels():
            return _move_labels(op, ctx)
        case StartPromptRollout():
            return _start_prompt_rollout(op, ctx)
        case UploadDataset():
            return tuning_steps.upload_dataset(op, tuning_steps.require(ctx.tuning))
        case StartTuningJob():
            return tuning_steps.start_tuning_job(op, tuning_steps.require(ctx.tuning))
        case EvaluateTunedModel():
            result, _ = tuning_steps.evaluate_tuned_model(
                op, tuning_steps.require(ctx.tuning), report_dir=ctx.report_dir
            )
            return result
        case SubmitPipelineJob():
            return tuning_steps.submit_pipeline_job(op, tuning_steps.require(ctx.tuning))
        case CreatePipelineSchedule():
            return tuning_steps.create_pipeline_schedule(op, tuning_steps.require(ctx.tuning))
        case DeletePipelineSchedule():
            return tuning_steps.delete_pipeline_schedule(op, tuning_steps.require(ctx.tuning))
        case (
            CreateNotificationChannel()
            | UpdateNotificationChannel()
            | DeleteNotificationChannel()
            | CreateAlertPolicy()
            | UpdateAlertPolicy()
            | DeleteAlertPolicy()
        ):
            return run_alert_operation(op, ctx.alerts, channels=ctx.new_channels, lock=ctx.lock, commit=ctx.commit)
        case _:
            assert_never(op)
