"""Compiling a Pipeline's `function: module:function` into KFP IR with the real kfp compiler (the optional
`pipelines` extra), for `plan --allow-code` / `apply --allow-code`.

This runs code from the repository the manifests come from, so it runs only when the operator asked for it
(--allow-code), in a child process (the controller's own memory and state stay out of reach), with the
manifests root first on its module path, Google credentials variables removed from its environment, and a
time limit. The module must lie inside the manifests root (symlinks resolved), checked before any of its
code runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from controller.errors import UserError

_SCRIPT = """
import importlib, sys, yaml
from kfp import compiler
root, spec, out = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, root)
module_name, _, attr = spec.partition(":")
import importlib.util, os
top = importlib.util.find_spec(module_name.split(".")[0])  # located, not run
origin = os.path.realpath((top.origin or "") if top else "") if top and top.origin else ""
places = [os.path.realpath(p) for p in (top.submodule_search_locations or [])] if top else []
if not any(p == root or p.startswith(root + os.sep) for p in [origin, *places] if p):
    sys.exit(f"module {module_name} is not inside the manifests root {root}")
module = importlib.import_module(module_name)
if not os.path.realpath(getattr(module, "__file__", "") or "").startswith(root + os.sep):
    sys.exit(f"module {module_name} is not inside the manifests root {root}")
compiler.Compiler().compile(getattr(module, attr), out)
"""
_DROPPED = ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "GOOGLE_CLOUD_PROJECT")


def compile_function(function: str, root: Path, *, timeout_s: float = 120.0) -> dict[str, Any]:
    """The KFP IR of `module:function` under `root`; UserError saying why when it cannot be compiled."""
    real_root = str(Path(os.path.realpath(root)))
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    with tempfile.TemporaryDirectory(prefix="genaiops-kfp-") as tmp:
        out = Path(tmp) / "pipeline.yaml"
        try:
            done = subprocess.run(
                [sys.executable, "-c", _SCRIPT, real_root, function, str(out)],
                cwd=tmp,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise UserError(f"compiling {function} with kfp took longer than {timeout_s:.0f}s") from err
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            hint = (
                " (install the pipelines extra: pip install 'genaiops[pipelines]')"
                if "No module named 'kfp'" in last
                else ""
            )
            raise UserError(f"compiling {function} with kfp failed: {last}{hint}")
        loaded = yaml.safe_load(out.read_text(encoding="utf-8"))
    if not isinstance(loaded, dict):
        raise UserError(f"kfp compiled {function} into something that is not a pipeline spec")
    plain: dict[str, Any] = json.loads(json.dumps(loaded))
    return plain


__all__ = ["compile_function"]
