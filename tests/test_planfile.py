"""Saved plans: `save_plan` / `load_plan` round-trip a Plan exactly, and every bad file is a UserError with
a message saying what is wrong (the CLI prints it, never a traceback)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from controller import __version__
from controller.diagnostics import Diagnostic, Severity, Source
from controller.errors import UserError
from controller.observed import (
    DeploymentSpec,
    EndpointSettings,
    ExplanationParameters,
    RequestLogging,
    ReservationAffinity,
)
from controller.plans import planfile
from controller.plans.operations import (
    CreateEndpoint,
    DeployModel,
    MutateDeployedModel,
    SetRequestLogging,
    from_json,
    to_json,
)
from controller.plans.plan import Plan
from controller.plans.planfile import PLANFILE_FORMAT, PLANFILE_VERSION, SavedPlan, load_plan, save_plan
from tests.test_plan_views import (
    create_plan,
    delete_plan,
    no_change_plan,
    rollout_plan,
    traffic_shift_plan,
)

DIGEST = "sha256:" + "ab" * 32
CREATED = "2025-03-01T12:00:00Z"


def saved(plan: Plan, path: Path) -> SavedPlan:
    """Save then load."""
    save_plan(plan, path, manifests_digest=DIGEST, created_at=CREATED)
    return load_plan(path)


def rewrite(path: Path, edit: Any, *, fix_checksum: bool = True) -> None:
    """Apply `edit` to the stored document (and re-sign it, to reach the checks behind the checksum)."""
    document = json.loads(path.read_text())
    edit(document)
    if fix_checksum:
        document["checksum"] = planfile._checksum(document["plan"])
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    "build", [create_plan, traffic_shift_plan, delete_plan, rollout_plan, no_change_plan], ids=lambda f: f.__name__
)
def test_a_saved_plan_loads_back_equal(build: Any, tmp_path: Path) -> None:
    plan = build()
    loaded = saved(plan, tmp_path / "plan.json")
    assert loaded.plan == plan
    assert (loaded.manifests_digest, loaded.created_at, loaded.genaiops_version) == (DIGEST, CREATED, __version__)


def test_notes_diagnostics_fingerprint_and_target_survive_the_round_trip(tmp_path: Path) -> None:
    warning = Diagnostic("odd", Source("m/a.yaml", 4, 2), "spec.traffic", Severity.WARNING, "detail text")
    plan = dataclasses.replace(traffic_shift_plan(), notes=("a note",), diagnostics=(warning,))
    loaded = saved(plan, tmp_path / "plan.json").plan
    assert loaded.diagnostics == (warning,)
    assert loaded.notes == ("a note",)
    assert loaded.target == "projects/acme/locations/us-central1"
    assert loaded.fingerprint == plan.fingerprint
    assert loaded.summary() == plan.summary()


def test_a_deploy_is_written_flat_in_the_field_names_plan_files_have_always_used() -> None:
    deploy = DeployModel("chat", DeploymentSpec("primary", "llm", "@new", "n1-standard-4", 1, 3, "NVIDIA_L4", 2))
    written = to_json(deploy)
    assert written == {
        "op": "DeployModel",
        "endpoint_id": "chat",
        "deployment": "primary",
        "model_id": "llm",
        "version": "@new",
        "machine_type": "n1-standard-4",
        "min_replicas": 1,
        "max_replicas": 3,
        "accelerator_type": "NVIDIA_L4",
        "accelerator_count": 2,
        "disable_container_logging": False,
        "service_account": None,
    }
    assert from_json(json.loads(json.dumps(written))) == deploy


def test_a_deploy_written_before_the_optional_fields_existed_reads_back_with_their_defaults() -> None:
    old = {"op": "DeployModel", "endpoint_id": "chat", "deployment": "primary", "model_id": "llm", "version": "3"}
    spec = from_json({**old, "machine_type": "n1-standard-4", "min_replicas": 1, "max_replicas": 1})
    assert spec == DeployModel("chat", DeploymentSpec("primary", "llm", "3", "n1-standard-4", 1, 1))
    with pytest.raises(ValueError, match="malformed DeployModel"):
        from_json(old)


def test_the_file_is_a_versioned_json_document(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(create_plan(), path, manifests_digest=DIGEST, created_at=CREATED)
    document = json.loads(path.read_text())
    assert (document["format"], document["version"]) == (PLANFILE_FORMAT, PLANFILE_VERSION) == ("genaiops-plan", 1)
    create = document["plan"]["changes"][1]["operations"][0]
    spec = create["labels"].pop("genaiops-spec")
    assert create == {
        "op": "CreateEndpoint",
        "endpoint_id": "support-chat",
        "display_name": "support-chat",
        "description": "",
        "labels": {"managed-by": "genaiops", "team": "support"},
    }
    assert len(spec) == 16


def test_saving_replaces_the_file_atomically_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text("old")
    save_plan(create_plan(), path, manifests_digest=DIGEST, created_at=CREATED)
    save_plan(traffic_shift_plan(), path, manifests_digest=DIGEST, created_at=CREATED)
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]
    assert load_plan(path).plan == traffic_shift_plan()


def test_saving_into_a_missing_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="cannot write plan file"):
        save_plan(create_plan(), tmp_path / "nope" / "plan.json", manifests_digest=DIGEST, created_at=CREATED)


def test_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"plan file .*missing\.json not found; create one with `genaiops plan --out"):
        load_plan(tmp_path / "missing.json")


def test_a_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a directory"):
        load_plan(tmp_path)


def test_a_truncated_file_is_reported_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(create_plan(), path, manifests_digest=DIGEST, created_at=CREATED)
    path.write_text(path.read_text()[:200])
    with pytest.raises(UserError, match=r"is corrupt \(invalid JSON at line \d+, column \d+"):
        load_plan(path)


@pytest.mark.parametrize("content", ["[]", '{"format": "terraform"}', "42", '{"version": 1}'])
def test_a_json_file_that_is_not_a_plan_is_refused(content: str, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content)
    with pytest.raises(UserError, match="is not a genaiops plan file"):
        load_plan(path)


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.bin"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(UserError, match="not a genaiops plan"):
        load_plan(path)


@pytest.mark.parametrize("version", [2, 0, "1", None])
def test_an_unknown_format_version_is_refused(version: object, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(create_plan(), path, manifests_digest=DIGEST, created_at=CREATED)
    rewrite(path, lambda d: d.__setitem__("version", version))
    with pytest.raises(UserError, match=rf"has format version {version!r}, but genaiops .* reads version 1 only"):
        load_plan(path)


def test_a_plan_edited_after_saving_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(traffic_shift_plan(), path, manifests_digest=DIGEST, created_at=CREATED)

    def move_traffic(document: dict[str, Any]) -> None:
        document["plan"]["changes"][1]["operations"][0]["split"] = {"111": 100}

    rewrite(path, move_traffic, fix_checksum=False)
    with pytest.raises(UserError, match="modified or damaged after it was written"):
        load_plan(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["plan"].pop("changes"), "missing field 'changes'"),
        (lambda d: d["plan"]["changes"][0].__setitem__("action", "explode"), "'explode' is not a valid Action"),
        (lambda d: d["plan"]["changes"][1]["operations"][0].__setitem__("op", "Nuke"), "unknown operation 'Nuke'"),
        (lambda d: d["plan"]["changes"][1]["operations"][0].pop("endpoint_id"), "malformed CreateEndpoint"),
        (lambda d: d["plan"]["changes"][0].__setitem__("after", [1]), "expected an object or null"),
        (lambda d: d["plan"].__setitem__("fingerprint", []), "fingerprint must be an object"),
        (lambda d: d["plan"]["diagnostics"].append({"summary": "x"}), "missing field 'file'"),
        (lambda d: d.pop("manifests_digest"), "missing field 'manifests_digest'"),
    ],
    ids=[
        "no-changes",
        "bad-action",
        "unknown-op",
        "op-missing-field",
        "after-not-object",
        "bad-fingerprint",
        "bad-diagnostic",
        "no-digest",
    ],
)
def test_a_malformed_plan_is_a_user_error_naming_the_problem(edit: Any, message: str, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(create_plan(), path, manifests_digest=DIGEST, created_at=CREATED)
    rewrite(path, edit)
    with pytest.raises(UserError, match="is malformed") as caught:
        load_plan(path)
    assert message in str(caught.value)


def test_a_plan_file_nested_200000_levels_deep_is_refused_without_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.plan"
    path.write_text("[" * 200_000, encoding="utf-8")
    with pytest.raises(UserError, match=f"nests deeper than {planfile.MAX_PLANFILE_DEPTH} levels"):
        load_plan(path)


def test_nesting_inside_strings_does_not_count_towards_the_depth_bound(tmp_path: Path) -> None:
    plan = dataclasses.replace(traffic_shift_plan(), notes=("[" * 1000 + '"\\' + "{" * 1000,))
    assert saved(plan, tmp_path / "plan.json").plan == plan


def test_a_real_plan_is_far_below_the_depth_bound(tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    save_plan(rollout_plan(), path, manifests_digest=DIGEST, created_at=CREATED)
    depth, too_deep_at = planfile._nesting(path.read_text(encoding="utf-8"))
    assert too_deep_at == -1
    assert depth < planfile.MAX_PLANFILE_DEPTH // 4


def test_a_plan_file_larger_than_the_size_bound_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.plan"
    with path.open("wb") as out:
        out.truncate(planfile.MAX_PLANFILE_BYTES + 1)  # sparse: no disk used, never read
    with pytest.raises(UserError, match="plan files are limited to 50 MiB"):
        load_plan(path)


def test_a_fifo_given_as_a_plan_file_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.plan"
    os.mkfifo(path)
    with pytest.raises(UserError, match="not a regular file"):
        load_plan(path)  # opened non-blocking: no writer needed


def test_the_serving_spec_operations_round_trip_through_a_plan_file(tmp_path: Path) -> None:
    logging = RequestLogging(True, 0.25, "bq://acme-prod.serving.logs")
    settings = EndpointSettings(
        logging=logging,
        dedicated=True,
        private_service_connect=True,
        psc_project_allowlist=("a-proj", "b-proj"),
        kms_key_name="projects/p/locations/us-central1/keyRings/r/cryptoKeys/k",
    )
    spec = DeploymentSpec(
        "primary",
        "llm",
        "@new",
        "g2-standard-8",
        1,
        3,
        "NVIDIA_L4",
        1,
        autoscaling=(("aiplatform.googleapis.com/prediction/online/cpu/utilization", 70),),
        spot=True,
        reservation=ReservationAffinity("specific", "compute.googleapis.com/reservation-name", ("r1", "r2")),
        explanation=ExplanationParameters("sampled-shapley", path_count=10, top_k=2),
    )
    ops = (
        CreateEndpoint("chat", "chat", "", {"managed-by": "genaiops"}, settings),
        DeployModel("chat", spec),
        SetRequestLogging("chat", logging),
        SetRequestLogging("chat", None),
        MutateDeployedModel("chat", "7", 1, 2, "primary", (), disable_container_logging=True),
        MutateDeployedModel("chat", "7", 1, 2, "primary", spec.autoscaling),
    )
    for op in ops:
        assert from_json(json.loads(json.dumps(to_json(op)))) == op
    change = dataclasses.replace(create_plan().changes[1], operations=ops)
    plan = dataclasses.replace(create_plan(), changes=(change,))
    assert saved(plan, tmp_path / "plan.json").plan == plan


def test_serving_fields_at_their_defaults_are_not_written_and_an_older_file_reads_them_back_as_defaults() -> None:
    create = CreateEndpoint("chat", "chat", "", {})
    mutate = MutateDeployedModel("chat", "7", 1, 2, "primary")
    assert to_json(create) == {
        "op": "CreateEndpoint",
        "endpoint_id": "chat",
        "display_name": "chat",
        "description": "",
        "labels": {},
    }
    assert "autoscaling" not in to_json(mutate) and "disable_container_logging" not in to_json(mutate)
    assert from_json(to_json(create)) == create and from_json(to_json(mutate)) == mutate
    only_logging = CreateEndpoint("chat", "chat", "", {}, EndpointSettings(logging=RequestLogging(True, 1.0, "")))
    assert to_json(only_logging)["settings"] == {
        "logging": {"enabled": True, "sampling_rate": 1.0, "bigquery_table": ""}
    }
