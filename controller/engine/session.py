"""What the engine needs of an opened target (`Session`): Vertex AI ports per region, the metrics port, the
lock, the prompt store (opened on first use) and the one clock every record is stamped with. The CLI
builds one from its target; tests build one on the in-process emulator with a fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import UserError
from controller.ports import (
    AlertsPort,
    LockPort,
    MetricsPort,
    ModelGardenPort,
    PromptMetricsPort,
    TuningPort,
    VertexPort,
)
from controller.prompts.store import PromptStore


@dataclass
class Session:
    """What the engine needs of an opened target: ports per region, metrics, the lock, the prompt store
    (opened on first use) and the one clock every record is stamped with."""

    name: str
    ports: Mapping[str, VertexPort]
    metrics: MetricsPort | None
    lock: LockPort
    open_prompts: Callable[[], PromptStore] | None = None
    clock: Callable[[], float] = time.time
    prompt_metrics: PromptMetricsPort | None = None  # the runtime client's metrics, for prompt canaries
    tuning: TuningPort | None = None  # tuning jobs, pipelines and the datasets' bucket
    compile_pipeline: Callable[[str, Path], dict[str, Any]] | None = None  # only with --allow-code
    model_garden: ModelGardenPort | None = None  # open models' deploy actions (Model.deploy)
    alerts: AlertsPort | None = None  # Cloud Monitoring alert policies and channels (Alert, NotificationChannel)
    project: str = ""  # the target's project (alert policies name it)
    _prompts: PromptStore | None = None

    def prompts(self) -> PromptStore:
        """The prompt store (UserError when the target has none)."""
        if self._prompts is None:
            if self.open_prompts is None:
                raise UserError(f"{self.name} has no prompt store")
            self._prompts = self.open_prompts()
        return self._prompts


class NoLock:
    """For a session that only writes the prompt store: every store write is compare-and-swap already."""

    def acquire(self, *, owner: str, wait_s: float) -> str:
        return ""

    def release(self, lock_id: str) -> None:
        return

    def force_unlock(self, lock_id: str) -> None:
        return
