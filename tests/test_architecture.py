"""The architecture holds: the import-linter contracts in pyproject.toml name every package of `controller`
in DESIGN's order, and they bite. Each wrong import below is added to a copy of the tree, where
`lint-imports` must fail and name it; the tree as it is passes (`make test` runs `lint-imports`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _layers() -> list[set[str]]:
    (layers,) = [c["layers"] for c in _contracts() if c["type"] == "layers"]
    return [{name.strip().removeprefix("controller.") for name in layer.split("|")} for layer in layers]


def test_the_layers_contract_names_every_package_and_module_of_controller() -> None:
    root = REPO / "controller"
    packages = {p.name for p in root.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in root.glob("*.py") if p.stem not in ("__init__", "__main__")}
    named = set().union(*_layers())
    assert named == packages | modules


def test_the_layers_run_in_designs_direction_with_providers_beside_the_engine() -> None:
    layers = _layers()

    def level(name: str) -> int:
        return next(i for i, layer in enumerate(layers) if name in layer)

    direction = ["cli", "engine", "prompts", "ports", "plans", "rollout", "observed", "model"]
    assert [level(n) for n in direction] == sorted(level(n) for n in direction)
    assert level("providers") == level("engine") == level("views")
    assert level("loader") == level("plans")
    assert level("emulator") > level("providers")


# Same-named modules of the runtime client (issue 13) that predate this rule; renaming them is that work's.


def test_no_two_sibling_packages_have_a_module_of_the_same_name() -> None:
    owners: dict[str, list[str]] = {}
    for package in sorted(p for p in (REPO / "controller").iterdir() if (p / "__init__.py").is_file()):
        for module in package.glob("*.py"):
            if module.name != "__init__.py":
                owners.setdefault(module.name, []).append(package.name)
    repeated = {name: where for name, where in owners.items() if len(where) > 1}
    assert not repeated, f"rename one of each: {repeated}"


@pytest.mark.parametrize(
    ("module", "line", "named"),
    [
        # the issue's own example: providers sit beside the engine and never import it
        ("providers/locks.py", "import controller.engine.executor", "controller.providers.locks"),
        # a lower layer importing a higher one
        ("plans/diff.py", "import controller.engine.audit", "controller.plans.diff"),
        # the emulator imports nothing of controller but the model
        ("emulator/info.py", "import controller.plans.plan", "controller.emulator.info"),
        # the CLI asks providers/connections.py for channels and clients
        ("cli/options.py", "import grpc", "controller.cli.options"),
    ],
    ids=["providers-import-the-engine", "plans-import-the-engine", "emulator-imports-plans", "cli-imports-grpc"],
)
def test_a_deliberately_wrong_import_fails_lint_imports(module: str, line: str, named: str, tmp_path: Path) -> None:
    shutil.copytree(REPO / "controller", tmp_path / "controller", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "controller" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}  # deliberately wrong\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}  # the copy, not the installed tree
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0, done.stdout
    assert "BROKEN" in done.stdout and named in done.stdout, done.stdout
