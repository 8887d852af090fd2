"""Compiling a Pipeline's `function:` with kfp runs repository code, so only a module inside the manifests
root is ever imported: one outside it (an installed module, or a symlink out of the root) is refused before
any of its code runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import UserError
from controller.providers.kfp_compile import compile_function

ROOT = Path(__file__).parents[1] / "manifests"


def test_the_example_pipeline_under_the_manifests_root_compiles() -> None:
    assert compile_function("pipelines.tune_pipeline:tune_pipeline", ROOT)["pipelineInfo"]["name"] == "genaiops-tune"


def test_an_installed_module_outside_the_root_is_refused() -> None:
    with pytest.raises(UserError, match="is not inside the manifests root"):
        compile_function("json:dumps", ROOT)


def test_a_symlink_out_of_the_root_is_refused_before_its_code_runs(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    ran = tmp_path / "ran"
    (outside / "evil.py").write_text(f"open({str(ran)!r}, 'w').close()\n", encoding="utf-8")
    root = tmp_path / "manifests"
    root.mkdir()
    (root / "evil.py").symlink_to(outside / "evil.py")
    with pytest.raises(UserError, match="is not inside the manifests root"):
        compile_function("evil:pipeline", root)
    assert not ran.exists()
