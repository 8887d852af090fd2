"""`genaiops import` without a cloud: the pure mapping of live resources and stored prompts to manifests
(import_drafts, import_prompts, import_render), the check before adopting (the real loader and planner on
the written files), adoption through a fake `InventoryPort` (order, labels, etag, conflicts, a kill between
two adoptions), and the planner's refusal to create a resource named by a generated ID."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.engine.adoption import Inventory, Verdict, adopt, adoption_verdicts
from controller.engine.import_drafts import SkipReason, declared_addresses, draft_imports, endpoint_document
from controller.engine.import_prompts import StoredPrompt, chosen_version, prompt_draft
from controller.engine.import_render import CannotImportError, render
from controller.engine.importer import FileStatus, load_root, write_drafts
from controller.engine.retry import RetryPolicy
from controller.errors import ConflictError
from controller.model import Prompt
from controller.model.serving import CPU_UTILIZATION, REQUEST_COUNT
from controller.observed import (
    ContainerSpec,
    DeploymentSpec,
    EndpointSettings,
    ExplanationParameters,
    ObservedDeployedModel,
    ObservedEndpoint,
    ObservedModel,
    ObservedModelVersion,
    RequestLogging,
    ReservationAffinity,
)
from controller.plans.plan import Action
from controller.plans.planner import plan
from controller.prompts.index import IndexEntry, PromptIndex
from controller.prompts.source import PromptSource
from controller.prompts.version import version_of
from tests.builders import IMAGE, deployed, endpoint, live_endpoint, live_model, model

REGION = "us-central1"
MODEL_ID = "7672672114085189673"
ENDPOINT_ID = "1444565590023340588"
NO_RETRY = RetryPolicy(attempts=1)


def sdk_model(model_id: str = MODEL_ID, **changes: Any) -> ObservedModel:
    """A model uploaded with the SDK: numeric ID, no labels, default version 1."""
    version = ObservedModelVersion("1", ("default",), "gs://bk/model", ContainerSpec(image_uri=IMAGE, ports=(8080,)))
    live = ObservedModel(model_id, REGION, "my model", "", {}, version, "t1")
    return replace(live, **changes)


def sdk_endpoint(
    *models: ObservedDeployedModel, split: Mapping[str, int] | None = None, **changes: Any
) -> ObservedEndpoint:
    """An endpoint created with the SDK (numeric ID, no managed-by label) serving `models`."""
    models = models or (deployed("11", model=MODEL_ID),)
    live = live_endpoint(ENDPOINT_ID, models=models, split=dict(split or {models[0].id: 100}), labels={"team": "a"})
    return replace(live, display_name="my endpoint", **changes)


def serving(deployed_id: str, name: str, **fields: Any) -> ObservedDeployedModel:
    spec = DeploymentSpec(name, MODEL_ID, "1", "n1-standard-4", 1, 3)
    return ObservedDeployedModel(deployed_id, replace(spec, **fields))


def drafting(
    *, endpoints: tuple[ObservedEndpoint, ...] = (), models: tuple[ObservedModel, ...] = (sdk_model(),)
) -> Any:
    return draft_imports(endpoints=endpoints, models=models, prompts=(), declared={}, manifests=())


def import_into(tmp_path: Path, inventory: Inventory) -> tuple[Any, Path]:
    """Draft and write everything of `inventory` under tmp_path/manifests/imported; the reloaded manifests."""
    root = tmp_path / "manifests"
    out = root / "imported"
    drafts = draft_imports(
        endpoints=inventory.endpoints, models=inventory.models, prompts=(), declared={}, manifests=()
    )
    written = write_drafts(drafts.drafts, out, force=False)
    assert all(w.status is FileStatus.WRITTEN for w in written)
    return load_root(root, default_region=REGION), out


# -- mapping ------------------------------------------------------------------------------------------


def test_an_endpoint_using_every_serving_field_plans_to_no_changes_once_owned(tmp_path: Path) -> None:
    primary = serving(
        "11",
        "primary",
        machine_type="g2-standard-8",
        accelerator_type="NVIDIA_L4",
        accelerator_count=1,
        autoscaling=tuple(sorted([(CPU_UTILIZATION, 70), (REQUEST_COUNT, 40)])),
        reservation=ReservationAffinity(
            "specific", "compute.googleapis.com/reservation-name", ("projects/p/zones/z/reservations/r",)
        ),
        disable_container_logging=True,
        service_account="serve@p.iam.gserviceaccount.com",
    )
    explained = serving(
        "12", "explained", spot=True, explanation=ExplanationParameters("sampled-shapley", path_count=10, top_k=3)
    )
    settings = EndpointSettings(
        logging=RequestLogging(True, 0.25, "bq://my-project.logs.requests"),
        dedicated=True,
        private_service_connect=True,
        psc_project_allowlist=("other-project",),
        kms_key_name="projects/p/locations/us-central1/keyRings/r/cryptoKeys/k",
    )
    live = sdk_endpoint(primary, explained, split={"11": 80, "12": 20}, settings=settings, description="chat")
    result, out = import_into(tmp_path, Inventory(endpoints=(live,), models=(sdk_model(),)))

    verdicts = adoption_verdicts(result, Inventory(endpoints=(live,), models=(sdk_model(),)), out=out)

    assert verdicts == (
        Verdict(f"Model/{REGION}/{MODEL_ID}", True),
        Verdict(f"Endpoint/{REGION}/{ENDPOINT_ID}", True),
    )
    spec = yaml.safe_load((out / f"endpoint-{REGION}-{ENDPOINT_ID}.yaml").read_text(encoding="utf-8"))["spec"]
    assert spec["deployments"][1]["autoscaling"] == {"cpuUtilization": 70, "requestsPerReplica": 40}
    assert spec["deployments"][1]["reservation"]["type"] == "specific"
    assert spec["deployments"][0]["explanation"] == {"method": "sampled-shapley", "pathCount": 10, "topK": 3}
    assert spec["deployments"][0]["spot"] is True
    assert spec["requestResponseLogging"] == {
        "enabled": True,
        "samplingRate": 0.25,
        "bigqueryTable": "bq://my-project.logs.requests",
    }
    assert spec["privateServiceConnect"] == {"projectAllowlist": ["other-project"]}
    assert spec["traffic"] == {"explained": 20, "primary": 80}


def test_the_written_yaml_quotes_numeric_names_and_is_the_same_bytes_every_time() -> None:
    first = drafting(endpoints=(sdk_endpoint(),))
    second = drafting(endpoints=(sdk_endpoint(),))
    texts = [text for d in first.drafts for _, text in d.files]
    assert texts == [text for d in second.drafts for _, text in d.files]
    document = yaml.safe_load(texts[1])
    assert document["metadata"] == {"name": ENDPOINT_ID, "labels": {"team": "a"}}
    assert document["spec"]["deployments"][0]["model"] == f"{MODEL_ID}@1"
    assert f'name: "{ENDPOINT_ID}"' in texts[1]


def test_multi_line_text_is_written_as_a_literal_block() -> None:
    text = render({"spec": {"description": "two\nlines"}}, header="h")
    assert "description: |-\n    two\n    lines" in text
    assert yaml.safe_load(text)["spec"]["description"] == "two\nlines"


def test_genaiops_own_labels_are_left_out_and_retain_becomes_the_deletion_policy() -> None:
    live = sdk_endpoint(labels={"team": "a", "genaiops-retain": "true", "genaiops-commit": "abc"})
    document = endpoint_document(live, models={MODEL_ID: None})
    assert document["metadata"]["labels"] == {"team": "a"}
    assert document["spec"]["deletionPolicy"] == "retain"


UNIMPORTABLE: list[tuple[str, Callable[[], tuple[ObservedEndpoint | None, ObservedModel]], str]] = [
    (
        "a display name that is no deployment name",
        lambda: (sdk_endpoint(serving("11", "Primary Model")), sdk_model()),
        "has the display name 'Primary Model', which is not a deployment name",
    ),
    (
        "two deployed models with one display name",
        lambda: (
            sdk_endpoint(serving("11", "primary"), serving("12", "primary"), split={"11": 50, "12": 50}),
            sdk_model(),
        ),
        "deployed models 11, 12 share the display name 'primary'",
    ),
    (
        "no deployed model",
        lambda: (replace(sdk_endpoint(), deployed_models=(), traffic_split={}), sdk_model()),
        "it has no deployed model",
    ),
    (
        "no traffic",
        lambda: (sdk_endpoint(serving("11", "primary"), split={"11": 0}), sdk_model()),
        "its traffic split sums to 0",
    ),
    (
        "automatic resources",
        lambda: (sdk_endpoint(serving("11", "primary", machine_type="")), sdk_model()),
        "runs on automatic resources",
    ),
    (
        "an autoscaling metric a manifest cannot name",
        lambda: (sdk_endpoint(serving("11", "primary", autoscaling=(("custom/metric", 5),))), sdk_model()),
        "autoscales on 'custom/metric'",
    ),
    (
        "another tool's label",
        lambda: (sdk_endpoint(labels={"managed-by": "terraform"}), sdk_model()),
        "labelled managed-by: terraform, so another tool owns it",
    ),
    (
        "a model that was not uploaded from Cloud Storage",
        lambda: (None, sdk_model(default_version=ObservedModelVersion("1", (), "", ContainerSpec(IMAGE)))),
        "it has no artifact",
    ),
    (
        "an endpoint deploying a model that cannot be imported",
        lambda: (sdk_endpoint(), sdk_model(default_version=ObservedModelVersion("1", (), "", ContainerSpec(IMAGE)))),
        f"it deploys model {MODEL_ID}, which cannot be imported (it has no artifact",
    ),
    ("a model ID no manifest name takes", lambda: (None, sdk_model("my_model")), "its ID 'my_model' is not a name"),
    (
        "an endpoint deploying a model of another region or project",
        lambda: (sdk_endpoint(deployed("11", model="elsewhere")), sdk_model()),
        "it deploys model elsewhere, which is not a registry model of this region",
    ),
]


@pytest.mark.parametrize(("case", "make", "reason"), UNIMPORTABLE, ids=[c[0] for c in UNIMPORTABLE])
def test_what_no_manifest_can_describe_is_skipped_with_the_reason_and_the_way_around(
    case: str, make: Callable[[], tuple[ObservedEndpoint | None, ObservedModel]], reason: str
) -> None:
    live, live_model_ = make()
    result = drafting(endpoints=(live,) if live else (), models=(live_model_,))
    cannot = [s for s in result.skips if s.reason is SkipReason.CANNOT]
    assert cannot, case
    assert reason in cannot[-1].detail
    assert cannot[-1].address.startswith("Endpoint/" if live else "Model/")


def test_declared_and_managed_resources_are_skipped_and_nothing_else() -> None:
    managed = live_endpoint("chat", models=(deployed("1"),), split={"1": 100})
    declared = {f"Endpoint/{REGION}/{ENDPOINT_ID}": "manifests/mine.yaml"}
    result = draft_imports(
        endpoints=(managed, sdk_endpoint()),
        models=(live_model(), sdk_model()),
        prompts=(),
        declared=declared,
        manifests=(),
    )
    assert [d.address for d in result.drafts] == [f"Model/{REGION}/{MODEL_ID}"]
    assert {(s.address, s.reason) for s in result.skips} == {
        (f"Model/{REGION}/llm", SkipReason.MANAGED),
        (f"Endpoint/{REGION}/chat", SkipReason.MANAGED),
        (f"Endpoint/{REGION}/{ENDPOINT_ID}", SkipReason.DECLARED),
    }


def test_an_endpoint_deploying_a_managed_model_no_manifest_declares_is_not_imported() -> None:
    result = draft_imports(
        endpoints=(sdk_endpoint(deployed("11", model="llm")),),
        models=(live_model(),),
        prompts=(),
        declared={},
        manifests=(),
    )
    assert "which genaiops manages, but no manifest declares" in result.skips[-1].detail


def test_a_declared_model_is_what_an_imported_endpoint_deploys() -> None:
    declared = declared_addresses([(model("llm"), "manifests/llm.yaml")])
    result = draft_imports(
        endpoints=(sdk_endpoint(deployed("11", model="llm")),),
        models=(replace(live_model(), labels={}),),
        prompts=(),
        declared=declared,
        manifests=(model("llm"),),
    )
    assert [d.address for d in result.drafts] == [f"Endpoint/{REGION}/{ENDPOINT_ID}"]
    assert result.drafts[0].document["spec"]["deployments"][0]["model"] == "llm@1"


# -- prompts ------------------------------------------------------------------------------------------


def stored(template: str = "Hi {{ name }}", labels: Mapping[str, str] | None = None, **spec: Any) -> StoredPrompt:
    body = {
        "model": "publishers/google/models/gemini-2.0-flash",
        "template": template,
        "variables": {"name": {"type": "string"}},
        **spec,
    }
    prompt = Prompt.model_validate(
        {"apiVersion": "genaiops/v1", "kind": "Prompt", "metadata": {"name": "greet"}, "spec": body}
    )
    version = version_of(PromptSource(prompt, "m.yaml", template, "m.yaml", 1))
    index = PromptIndex("greet", (IndexEntry("0000", "t0"), IndexEntry(version.id, "t1")), dict(labels or {}))
    return StoredPrompt(index, version)


def test_the_version_imported_is_the_one_most_labels_point_at_else_the_newest() -> None:
    index = PromptIndex("p", (IndexEntry("a", "t1"), IndexEntry("b", "t2"), IndexEntry("c", "t3")))
    assert chosen_version(index) == "c"
    assert chosen_version(replace(index, labels={"prod": "a", "staging": "a", "dev": "b"})) == "a"
    assert chosen_version(replace(index, labels={"prod": "a", "dev": "b"})) == "b"
    assert chosen_version(PromptIndex("p")) is None


def test_a_stored_prompt_becomes_a_manifest_and_template_file_that_name_the_same_version() -> None:
    prompt = stored(labels={"production": "", "staging": "0000"}, generationConfig={"temperature": 0.2})
    prompt = replace(prompt, index=replace(prompt.index, labels={"production": prompt.version.id, "staging": "0000"}))
    draft = prompt_draft(prompt, manifests=())
    names = [name for name, _ in draft.files]
    assert names == ["prompt-greet.yaml", "prompt-greet.j2"]
    assert draft.files[1][1] == "Hi {{ name }}"
    spec = yaml.safe_load(draft.files[0][1])["spec"]
    assert spec["labels"] == ["production"]
    assert spec["generationConfig"] == {"temperature": 0.2}
    assert draft.notes == ("label staging points at version 0000, not the imported one: left where it is",)


def test_a_stored_prompt_on_a_model_no_manifest_declares_is_not_imported() -> None:
    prompt = stored()
    odd = replace(prompt, version=replace(prompt.version, model="support-llm"))
    with pytest.raises(CannotImportError, match="its model 'support-llm' is not a Model or TuningJob"):
        prompt_draft(odd, manifests=())


def test_a_stored_prompt_whose_manifest_would_publish_another_version_is_not_imported() -> None:
    prompt = stored()
    odd = replace(
        prompt, version=replace(prompt.version, model="llm", vertex_model="locations/us-central1/endpoints/x")
    )
    with pytest.raises(CannotImportError, match=r"would publish version .* not the stored .* differ in vertexModel"):
        prompt_draft(odd, manifests=(model("llm"),))


# -- the check and adoption ---------------------------------------------------------------------------


def test_a_resource_whose_written_manifest_was_edited_is_refused_with_the_field_change(tmp_path: Path) -> None:
    inventory = Inventory(endpoints=(sdk_endpoint(),), models=(sdk_model(),))
    _, out = import_into(tmp_path, inventory)
    path = out / f"endpoint-{REGION}-{ENDPOINT_ID}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("maxReplicas: 1", "maxReplicas: 2"), encoding="utf-8")

    verdicts = adoption_verdicts(load_root(tmp_path / "manifests", default_region=REGION), inventory, out=out)

    refused = [v for v in verdicts if not v.adoptable]
    assert [v.address for v in refused] == [f"Endpoint/{REGION}/{ENDPOINT_ID}"]
    assert "deployments.primary.maxReplicas: 1 -> 2" in refused[0].why


def test_an_endpoint_is_not_adopted_when_its_model_is_refused(tmp_path: Path) -> None:
    inventory = Inventory(endpoints=(sdk_endpoint(),), models=(sdk_model(),))
    _, out = import_into(tmp_path, inventory)
    path = out / f"model-{REGION}-{MODEL_ID}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("my model", "renamed"), encoding="utf-8")

    verdicts = {
        v.address: v
        for v in adoption_verdicts(load_root(tmp_path / "manifests", default_region=REGION), inventory, out=out)
    }

    assert "displayName" in verdicts[f"Model/{REGION}/{MODEL_ID}"].why
    assert verdicts[f"Endpoint/{REGION}/{ENDPOINT_ID}"].why == f"it deploys model {MODEL_ID}, which is not adopted"


def test_a_resource_declared_outside_out_is_never_adopted_by_import(tmp_path: Path) -> None:
    inventory = Inventory(endpoints=(sdk_endpoint(),), models=(sdk_model(),))
    result, _ = import_into(tmp_path, inventory)
    assert adoption_verdicts(result, inventory, out=tmp_path / "manifests" / "other") == ()


class FakeInventory:
    """An InventoryPort recording adoptions; `fail` maps an ID to the error its adoption raises."""

    def __init__(self, fail: Mapping[str, BaseException] | None = None) -> None:
        self.calls: list[tuple[str, str, dict[str, str], str]] = []
        self.fail = dict(fail or {})

    @property
    def region(self) -> str:
        return REGION

    def all_endpoints(self) -> list[ObservedEndpoint]:
        return []

    def all_models(self) -> list[ObservedModel]:
        return []

    def adopt_endpoint(self, *, endpoint_id: str, etag: str, labels: Mapping[str, str]) -> ObservedEndpoint:
        if endpoint_id in self.fail:
            raise self.fail[endpoint_id]
        self.calls.append(("endpoint", endpoint_id, dict(labels), etag))
        return sdk_endpoint()

    def adopt_model(self, *, model_id: str, labels: Mapping[str, str]) -> None:
        if model_id in self.fail:
            raise self.fail[model_id]
        self.calls.append(("model", model_id, dict(labels), ""))


def all_adoptable(inventory: Inventory) -> list[Verdict]:
    return [Verdict(f"Endpoint/{REGION}/{e.endpoint_id}", True) for e in inventory.endpoints] + [
        Verdict(f"Model/{REGION}/{m.model_id}", True) for m in inventory.models
    ]


def test_adoption_adds_the_label_to_the_current_ones_models_first_with_the_endpoint_etag() -> None:
    inventory = Inventory(endpoints=(replace(sdk_endpoint(), etag="etag-7"),), models=(sdk_model(),))
    port = FakeInventory()

    done = adopt({REGION: port}, inventory, all_adoptable(inventory), retry=NO_RETRY)

    assert [a.ok for a in done] == [True, True]
    assert port.calls == [
        ("model", MODEL_ID, {"managed-by": "genaiops"}, ""),
        ("endpoint", ENDPOINT_ID, {"team": "a", "managed-by": "genaiops"}, "etag-7"),
    ]


def test_an_endpoint_changed_since_it_was_read_is_not_adopted() -> None:
    inventory = Inventory(endpoints=(sdk_endpoint(),), models=(sdk_model(),))
    port = FakeInventory({ENDPOINT_ID: ConflictError("etag")})
    done = adopt({REGION: port}, inventory, all_adoptable(inventory), retry=NO_RETRY)
    assert "changed since it was read (etag): not adopted" in done[-1].error


def test_refused_and_managed_resources_are_never_written() -> None:
    managed = replace(sdk_model(), labels={"managed-by": "genaiops"})
    inventory = Inventory(endpoints=(sdk_endpoint(),), models=(managed,))
    port = FakeInventory()
    verdicts = [
        Verdict(f"Endpoint/{REGION}/{ENDPOINT_ID}", False, "changes"),
        Verdict(f"Model/{REGION}/{MODEL_ID}", True),
    ]
    assert adopt({REGION: port}, inventory, verdicts, retry=NO_RETRY) == ()
    assert port.calls == []


class Killed(BaseException):
    """The process dies here."""


def test_a_kill_between_two_adoptions_converges_when_import_runs_again() -> None:
    second = replace(sdk_endpoint(), endpoint_id="2444565590023340588")
    inventory = Inventory(endpoints=(sdk_endpoint(), second), models=(sdk_model(),))
    dying = FakeInventory({second.endpoint_id: Killed()})
    with pytest.raises(Killed):
        adopt({REGION: dying}, inventory, all_adoptable(inventory), retry=NO_RETRY)
    assert [c[1] for c in dying.calls] == [MODEL_ID, ENDPOINT_ID]

    adopted = {c[1] for c in dying.calls}  # what the rerun reads: those carry the label now
    reread = Inventory(
        endpoints=tuple(
            replace(e, labels={**e.labels, "managed-by": "genaiops"}) if e.endpoint_id in adopted else e
            for e in inventory.endpoints
        ),
        models=tuple(replace(m, labels={"managed-by": "genaiops"}) for m in inventory.models),
    )
    port = FakeInventory()
    adopt({REGION: port}, reread, all_adoptable(reread), retry=NO_RETRY)
    assert [c[1] for c in port.calls] == [second.endpoint_id]


# -- the planner --------------------------------------------------------------------------------------


def test_the_planner_never_creates_a_resource_named_by_a_generated_id() -> None:
    from controller.observed import Observed

    manifests = [
        model(MODEL_ID),
        endpoint(ENDPOINT_ID, deployments=[{"name": "primary", "model": f"{MODEL_ID}@1"}]),
        model("fresh"),
    ]
    planned = plan(manifests, Observed())
    assert [c.address for c in planned.changes] == [f"Model/{REGION}/fresh"]
    assert planned.changes[0].action is Action.CREATE
    assert [d.summary.split(" was ")[0] for d in planned.diagnostics] == [
        f"Model {MODEL_ID}",
        f"Endpoint {ENDPOINT_ID}",
    ]
    assert all("imported from a resource that no longer exists" in d.summary for d in planned.diagnostics)


def test_a_resource_named_by_a_generated_id_that_exists_is_planned_as_usual() -> None:
    from controller.observed import Observed

    live = replace(sdk_model(), labels={"managed-by": "genaiops"})
    planned = plan([model(MODEL_ID, artifact="gs://bk/model")], Observed(models={(REGION, MODEL_ID): live}))
    assert planned.diagnostics == ()
    assert planned.changes[0].action is Action.UPDATE  # the display name differs: a normal update
