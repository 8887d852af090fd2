"""Benchmark: `genaiops data validate` on a generated 1 GB JSONL file (issue 15): wall time and peak memory.

Goal: peak memory under 200 MB (the file is streamed line by line; only counters and the first problems
are kept). Printed beside a baseline measured in the same run: a `python -c` that only reads the file line
by line and `json.loads` each line (no checks), so the ratio shows what the format check costs.

The file (default 1,000,000,000 bytes of valid Gemini supervised-tuning examples: single- and multi-turn,
some with a system instruction or a fileData part) is written once to
$TMPDIR/genaiops-data-bench/train-<bytes>.jsonl and reused by later runs; delete that directory to
reclaim the space. Peak memory is each child's own max RSS, from os.wait4 (RUSAGE_CHILDREN would report
the larger of the two runs for both); the file is generated in a child of its own, because on Linux a
child's max RSS starts at its parent's size when it forks.

    python benchmarks/data_validate_bench.py [--bytes 1000000000] [--repeat 1]

Last measured (2 vCPUs, 1,005 MB, 550,000 examples, generated in 20.5 s): validate 25.1 s (40 MB/s), peak
38.0 MiB; baseline 6.8 s (147 MB/s), peak 13.2 MiB; 3.68x the baseline's time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_MIB = 200.0
WORDS = [
    "the",
    "model",
    "should",
    "answer",
    "briefly",
    "and",
    "politely",
    "about",
    "orders",
    "refunds",
    "shipping",
    "and",
    "accounts",
]


def example(i: int) -> str:
    """A valid example whose size and shape vary with i (about 300 to 2,500 bytes)."""
    sentence = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(8 + i % 40))
    turns = 2 if i % 5 else 4
    contents = []
    for t in range(turns):
        role = "user" if t % 2 == 0 else "model"
        parts: list[dict[str, object]] = [{"text": f"{role} {i}.{t}: {sentence} " * (1 + (i + t) % 6)}]
        if role == "user" and i % 17 == 0:
            parts.insert(0, {"fileData": {"mimeType": "image/png", "fileUri": f"gs://bench-bucket/img/{i}.png"}})
        contents.append({"role": role, "parts": parts})
    document: dict[str, object] = {"contents": contents}
    if i % 3 == 0:
        document = {
            "systemInstruction": {"role": "system", "parts": [{"text": f"You are agent {i % 97}."}]},
            **document,
        }
    return json.dumps(document)


def generate(path: Path, *, size: int) -> tuple[int, float]:
    """Write examples until the file holds at least `size` bytes; (examples, seconds)."""
    start = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    written = count = 0
    with partial.open("w", encoding="utf-8", newline="\n") as out:
        while written < size:
            chunk = "".join(example(count + k) + "\n" for k in range(10_000))
            out.write(chunk)
            written += len(chunk.encode("utf-8"))
            count += 10_000
    partial.replace(path)
    return count, time.perf_counter() - start


def run(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, the child's own peak RSS in MiB, its exit code and its last line of output."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    lines = output.strip().splitlines()
    return elapsed, usage.ru_maxrss / 1024, child.returncode, lines[-1] if lines else ""


BASELINE = (
    "import json, sys\n"
    "n = 0\n"
    "with open(sys.argv[1], 'rb') as f:\n"
    "    for line in f:\n"
    "        json.loads(line)\n"
    "        n += 1\n"
    "print(f'{n} lines parsed')\n"
)


def main() -> None:
    """Generate (once), then time the baseline and `genaiops data validate`."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bytes", type=int, default=1_000_000_000, help="size of the generated file")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (best time, largest peak)")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = Path(tempfile.gettempdir()) / "genaiops-data-bench" / f"train-{args.bytes}.jsonl"
    if args.generate_only:
        examples, seconds = generate(path, size=args.bytes)
        print(f"file:                     {path} ({examples:,} examples generated in {seconds:.1f} s)")
        return
    if path.is_file() and path.stat().st_size >= args.bytes:
        print(f"file:                     {path} (reused)")
    else:  # in a child: a child's max RSS starts from its parent's at fork, so this process stays small
        subprocess.run([sys.executable, __file__, "--bytes", str(args.bytes), "--generate-only"], check=True)
    size_mb = path.stat().st_size / 1e6
    baseline = [run([sys.executable, "-c", BASELINE, str(path)]) for _ in range(args.repeat)]
    validate = [run([sys.executable, "-m", "controller", "data", "validate", str(path)]) for _ in range(args.repeat)]
    base_s, base_mib = min(r[0] for r in baseline), max(r[1] for r in baseline)
    best_s, peak_mib = min(r[0] for r in validate), max(r[1] for r in validate)
    print(f"size:                     {size_mb:,.0f} MB")
    print(f"baseline (json.loads):    {base_s:6.1f} s  {size_mb / base_s:5.0f} MB/s  peak {base_mib:6.1f} MiB")
    print(
        f"genaiops data validate:   {best_s:6.1f} s  {size_mb / best_s:5.0f} MB/s  peak {peak_mib:6.1f} MiB   "
        f"({best_s / base_s:.2f}x baseline time; goal peak < {GOAL_MIB:.0f} MiB)"
    )
    print(f"validate said:            {validate[-1][3]}")
    ok = peak_mib < GOAL_MIB and validate[-1][2] == 0
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
