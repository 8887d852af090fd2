"""Benchmark: `genaiops validate` on 5,000 generated manifests.

Prints wall time and peak memory of a full `validate` run (a fresh process, as a user runs it), next to a
baseline measured in the same run: plain `yaml.safe_load` of the same files (no positions, no checks),
so the ratio shows what positions, validation and cross-checks cost. Goal (issue 2): under 3 s.

    python benchmarks/validate_bench.py [--count 5000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = """apiVersion: genaiops/v1
kind: Model
metadata: {{name: model-{i}, labels: {{team: t{team}}}}}
spec:
  region: us-central1
  upload:
    artifactUri: gs://models/model-{i}/v1
    servingContainer: {{imageUri: us-docker.pkg.dev/p/serve:1, ports: [{{containerPort: 8080}}]}}
    versionAliases: [stable]
"""
ENDPOINT = """apiVersion: genaiops/v1
kind: Endpoint
metadata: {{name: endpoint-{i}, labels: {{team: t{team}}}}}
spec:
  region: us-central1
  deployments:
    - {{name: blue, model: model-{m}@stable, machineType: n1-standard-4, minReplicas: 1, maxReplicas: 3}}
    - {{name: green, model: model-{m2}, machineType: n1-standard-4, minReplicas: 1}}
  traffic: {{blue: 90, green: 10}}
  rollout:
    strategy: canary
    steps: [{{weight: 10, pause: 1m}}, {{weight: 50, pause: 5m}}, {{weight: 100}}]
    analysis:
      interval: 1m
      minRequests: 50
      metrics: [{{name: error-rate, max: 0.01}}, {{name: latency-p99, maxMs: 1500}}]
"""
PROMPT = """apiVersion: genaiops/v1
kind: Prompt
metadata: {{name: prompt-{i}}}
spec:
  model: model-{m}
  template: "Hello {{{{ name }}}}, answer {{{{ question }}}} in {{{{ lang }}}}."
  variables: {{name: {{type: string}}, question: {{type: string}}, lang: {{type: string, default: en}}}}
  generationConfig: {{temperature: 0.2, maxOutputTokens: 256}}
  tests:
    - name: greets
      vars: {{name: Ada, question: why}}
      response: Hello Ada
      assert: [{{type: contains, value: Ada}}]
"""


def generate(root: Path, count: int) -> None:
    """Write `count` manifests: 40% models, 40% endpoints, 20% prompts, 10 files per directory."""
    models = max(1, count * 2 // 5)
    for i in range(count):
        directory = root / f"team-{i % 50:02d}"
        directory.mkdir(exist_ok=True)
        if i < models:
            text = MODEL.format(i=i, team=i % 50)
        elif i < models * 2:
            text = ENDPOINT.format(i=i, team=i % 50, m=i % models, m2=(i + 1) % models)
        else:
            text = PROMPT.format(i=i, m=i % models)
        (directory / f"m{i:05d}.yaml").write_text(text, encoding="utf-8")


def run(argv: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB of the child, and its last output line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    lines = (done.stdout or done.stderr).strip().splitlines()
    return elapsed, max(peak, before) / 1024, lines[-1] if lines else f"exit {done.returncode}"


BASELINE = (
    "import sys, yaml, pathlib\n"
    "L = getattr(yaml, 'CSafeLoader', yaml.SafeLoader)\n"
    "files = sorted(pathlib.Path(sys.argv[1]).rglob('*.yaml'))\n"
    "n = sum(len(list(yaml.load_all(p.read_text(), Loader=L))) for p in files)\n"
    "print(f'{n} documents loaded')\n"
)


def main() -> None:
    """Generate, then time the baseline and `genaiops validate` (best of three each)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root, args.count)
        baseline = min(run([sys.executable, "-c", BASELINE, str(root)])[0] for _ in range(args.repeat))
        results = [run([sys.executable, "-m", "controller", "validate", str(root)]) for _ in range(args.repeat)]
        best = min(r[0] for r in results)
        peak = results[-1][1]
        print(f"manifests:                    {args.count}")
        print(f"baseline (yaml.load, no checks): {baseline:6.2f} s")
        print(f"genaiops validate:            {best:6.2f} s   ({best / baseline:.2f}x baseline; goal < 3 s)")
        print(f"peak memory (max RSS):        {peak:6.1f} MiB")
        print(f"validate said:                {results[-1][2]}")
        sys.exit(0 if best < 3.0 and results[-1][2].startswith("All manifests valid") else 1)


if __name__ == "__main__":
    main()
