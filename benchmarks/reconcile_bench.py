"""Benchmark: CPU time and peak RSS of an idle `genaiops reconcile` pass over 1,000 unchanged resources.

The emulator runs in its own process (`genaiops emulator start`), so what is measured here is the controller
alone. The manifests (2 models and 998 endpoints, each serving both models 90/10) are committed to a local
git repository; a child `genaiops reconcile --git-url` pass creates everything. Then this process builds
the reconciler as `genaiops reconcile --git-url` does (same git source, target, providers, rollout driver)
and times passes that find nothing to do: the first (a one-shot cron run: cold caches, lazy imports) and
the next ones (a long-running controller). The git commands of each fetch run as child processes; their
CPU is printed separately. Goal (issue 6): < 1 s of CPU and < 300 MB peak RSS for an idle pass.

    python benchmarks/reconcile_bench.py [--endpoints 998] [--passes 5]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_support import child_env, emulator_process  # noqa: E402

IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-3:latest"
CPU_GOAL_S = 1.0
RSS_GOAL_MB = 300.0


def write_manifests(directory: Path, endpoints: int) -> None:
    """Two models and `endpoints` endpoints, each deploying both models 90/10."""
    directory.mkdir(parents=True, exist_ok=True)
    models = [
        "apiVersion: genaiops/v1\nkind: Model\n"
        f"metadata: {{name: {name}}}\n"
        f"spec:\n  upload:\n    artifactUri: gs://emulator-models/{name}/v1\n"
        f"    servingContainer: {{imageUri: {IMAGE}}}\n"
        for name in ("blue", "green")
    ]
    (directory / "models.yaml").write_text("---\n".join(models), encoding="utf-8")
    docs = [
        "apiVersion: genaiops/v1\nkind: Endpoint\n"
        f"metadata: {{name: ep-{i:04d}}}\n"
        "spec:\n  deployments: [{name: blue, model: blue}, {name: green, model: green}]\n"
        "  traffic: {blue: 90, green: 10}\n"
        for i in range(endpoints)
    ]
    (directory / "endpoints.yaml").write_text("---\n".join(docs), encoding="utf-8")


def make_repo(root: Path, endpoints: int) -> str:
    """A git repository at `root` with the manifests committed under manifests/; returns its file:// URL."""
    write_manifests(root / "manifests", endpoints)
    for args in (("init", "--quiet"), ("add", "--all"), ("commit", "--quiet", "-m", "1,000 resources")):
        command = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args]
        subprocess.run(command, check=True, capture_output=True)
    subprocess.run(["git", "-C", str(root), "branch", "--quiet", "-M", "main"], check=True, capture_output=True)
    return root.as_uri()


def populate(workdir: Path, url: str, address: str) -> float:
    """One `genaiops reconcile` pass in a child process creates everything; returns its wall time."""
    started = time.perf_counter()
    argv = [sys.executable, "-m", "controller", "reconcile", "--git-url", url, "--parallelism", "16"]
    argv += ["--cache-dir", str(workdir / "populate-cache"), "--audit-log", str(workdir / "populate-audit.log")]
    argv += ["--emulator", address]
    done = subprocess.run(argv, cwd=workdir, env=child_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"populating failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_cpu_s() -> float:
    """CPU seconds used by finished child processes (here: the git commands of each fetch)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(workdir: Path, url: str, address: str, passes: int) -> None:
    """Build the reconciler as `genaiops reconcile` does and time idle passes in this process."""
    from rich.console import Console

    from controller.cli.rollout_cmds import make_driver
    from controller.cli.target import open_target, spec_from_flags
    from controller.engine.audit import AuditLog
    from controller.engine.reconciler import Checkout, Reconciler
    from controller.providers.git_source import GitSource

    source = GitSource(url, branch="main", path="manifests", cache_dir=workdir / "bench-cache")

    def fetch() -> Checkout:
        checkout = source.fetch()
        return Checkout(manifests=checkout.manifests, commit=checkout.sha)

    spec = spec_from_flags(target=None, project=None, emulator=address, lock_bucket=None, state_dir=None)
    with open_target(spec, {"us-central1"}) as opened:
        audit = AuditLog(None)
        driver, flush = make_driver(opened, audit, None, Console(stderr=True))
        reconciler = Reconciler(fetch=fetch, ports=opened.ports, driver=driver, audit=audit)
        rows: list[tuple[float, float, float, int]] = []
        rss_before = peak_rss_mb()
        for _ in range(passes):
            opened.api_calls.clear()
            cpu, git, wall = time.process_time(), children_cpu_s(), time.perf_counter()
            report = reconciler.run_pass()
            cpu, git, wall = time.process_time() - cpu, children_cpu_s() - git, time.perf_counter() - wall
            rows.append((cpu, git, wall, sum(opened.api_calls.values())))
            if not report.ok or report.applied or report.drift or report.failed:
                raise RuntimeError(f"the pass was not idle: {report}")
        calls_by_method = dict(sorted(opened.api_calls.items()))
        flush()
    _print(rows, calls_by_method, rss_before)


def _print(rows: list[tuple[float, float, float, int]], calls: dict[str, int], rss_before: float) -> None:
    later = rows[1:] or rows
    line = "idle pass, {:24} CPU {:6.3f} s (+ git {:5.3f} s)   wall {:6.3f} s   {} API calls"
    print(line.format("first in the process:", *rows[0]))
    steady = [statistics.median(r[i] for r in later) for i in range(3)]
    print(line.format(f"steady (median of {len(later)}):", *steady, later[-1][3]))
    print(f"API calls of the last pass:         {calls}")
    rss = peak_rss_mb()
    print(f"peak RSS of this process:           {rss:6.1f} MB (before the first pass: {rss_before:.1f} MB)")
    worst_cpu = max(r[0] for r in rows)
    verdict_cpu = "ok" if worst_cpu < CPU_GOAL_S else "MISSED"
    verdict_rss = "ok" if rss < RSS_GOAL_MB else "MISSED"
    print(
        f"goal: < {CPU_GOAL_S:g} s CPU per idle pass   -> worst {worst_cpu:.3f} s (controller process): {verdict_cpu}"
    )
    print(f"goal: < {RSS_GOAL_MB:g} MB peak RSS          -> {rss:.1f} MB: {verdict_rss}")


def main() -> None:
    """Start the emulator, populate it, then measure idle passes."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=998, help="endpoints besides the 2 models")
    parser.add_argument("--passes", type=int, default=5, help="idle passes to time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconcile-bench-") as tmp:
        workdir = Path(tmp)
        url = make_repo(workdir / "repo", args.endpoints)
        with emulator_process(workdir) as address:
            took = populate(workdir, url, address)
            print(f"populated 2 models + {args.endpoints} endpoints x 2 deployed models in {took:.1f} s")
            measure(workdir, url, address, max(args.passes, 1))


if __name__ == "__main__":
    main()
