"""An example KFP 2 pipeline for Vertex AI Pipelines: prepare -> tune -> evaluate -> register.

Where it sits: a `Pipeline` manifest points at it (`function: tune_pipeline:tune_pipeline`, compiled with
kfp at plan time, or `template:` at the compiled IR checked in beside it, `tune_pipeline.json`); genaiops
submits the run and Vertex AI runs every step. Nothing here runs on the machine that compiles it: each
step is a lightweight Python component whose code is shipped into its container, and the Vertex AI SDK it
calls is installed there (`packages_to_install`). It is the pipeline form of what a `TuningJob` with an
evaluation gate declares:

1. prepare  - read a gemini-sft JSONL from Cloud Storage, check every line is an example, and split it into
              training and held-out evaluation sets by a stable hash of each line (reruns split alike);
2. tune     - supervised tuning of a Gemini base model on the training set (vertexai.tuning.sft), waiting
              for the job to end;
3. evaluate - the gate: the tuned model answers every held-out example (the last model turn is the expected
              answer, everything before it the input), the Gen AI evaluation service scores exact_match and
              rouge_l_sum, and a mean below its threshold fails the run, so nothing below it is registered;
4. register - mark the tuned model version in the Model Registry: labels `genaiops-gate: passed` and its
              score, and the version alias `evaluated`.

Needs `pip install 'genaiops[pipelines]'` (kfp 2). Regenerate the checked-in IR after editing:

    python manifests/pipelines/tune_pipeline.py            # writes manifests/pipelines/tune_pipeline.json

The IR is JSON, not YAML, because genaiops loads every *.yaml under manifests/ as a manifest.
(No `from __future__ import annotations` here: kfp reads the components' annotations as types.)
"""

import json
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import yaml
from kfp import compiler, dsl

BASE_IMAGE = "python:3.11-slim"
AIPLATFORM = "google-cloud-aiplatform>=1.60,<3"
AIPLATFORM_EVALUATION = "google-cloud-aiplatform[evaluation]>=1.60,<3"  # pandas and the EvalTask
IR = Path(__file__).with_name("tune_pipeline.json")


@dsl.component(base_image=BASE_IMAGE, packages_to_install=["google-cloud-storage>=2.16,<4"])
def prepare(
    source_uri: str,
    eval_fraction: float,
    train: dsl.Output[dsl.Dataset],
    evaluation: dsl.Output[dsl.Dataset],
) -> int:
    """Split the gemini-sft JSONL at `source_uri` (gs://bucket/object); returns the evaluation set's size."""
    import hashlib
    import json

    from google.cloud import storage

    bucket, _, name = source_uri.removeprefix("gs://").partition("/")
    text = storage.Client().bucket(bucket).blob(name).download_as_text()
    counts = {"train": 0, "evaluation": 0}
    with open(train.path, "w", encoding="utf-8") as train_file, open(evaluation.path, "w", encoding="utf-8") as held:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            contents = json.loads(line).get("contents") or []
            if len(contents) < 2 or contents[-1].get("role") != "model":
                raise ValueError(f"{source_uri}:{number}: an example needs input turns and a last 'model' turn")
            bucket_of_line = int(hashlib.sha256(line.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
            split = "evaluation" if bucket_of_line < eval_fraction else "train"
            (held if split == "evaluation" else train_file).write(line.rstrip("\n") + "\n")
            counts[split] += 1
    if not counts["train"] or not counts["evaluation"]:
        raise ValueError(f"{source_uri}: split {counts} leaves a side empty; add examples or change eval_fraction")
    return counts["evaluation"]


@dsl.component(base_image=BASE_IMAGE, packages_to_install=[AIPLATFORM])
def tune(
    project: str,
    location: str,
    base_model: str,
    train: dsl.Input[dsl.Dataset],
    epochs: int,
    adapter_size: int,
    display_name: str,
) -> NamedTuple("Tuned", [("model", str), ("endpoint", str)]):
    """Supervised tuning of `base_model` on the training set; returns the tuned model and its endpoint."""
    import time
    from collections import namedtuple

    import vertexai
    from vertexai.tuning import sft

    vertexai.init(project=project, location=location)
    job = sft.train(
        source_model=base_model,
        train_dataset=train.uri,
        epochs=epochs,
        adapter_size=adapter_size,
        tuned_model_display_name=display_name,
    )
    while not job.has_ended:
        time.sleep(60)
        job.refresh()
    if not job.has_succeeded:
        raise RuntimeError(f"tuning job {job.resource_name} ended {job.state.name}: {job.error}")
    tuned = namedtuple("Tuned", ["model", "endpoint"])
    return tuned(job.tuned_model_name, job.tuned_model_endpoint_name)


@dsl.component(base_image=BASE_IMAGE, packages_to_install=[AIPLATFORM_EVALUATION])
def evaluate(
    project: str,
    location: str,
    endpoint: str,
    evaluation: dsl.Input[dsl.Dataset],
    max_examples: int,
    min_exact_match: float,
    min_rouge_l: float,
    metrics: dsl.Output[dsl.Metrics],
) -> float:
    """The gate: score the tuned model's answers on the held-out set; fail the run below a threshold.
    Returns the mean rouge_l_sum."""
    import json

    import pandas as pd
    import vertexai
    from vertexai.evaluation import EvalTask
    from vertexai.generative_models import GenerativeModel

    def text(content: dict) -> str:
        return "".join(part["text"] for part in content["parts"])

    vertexai.init(project=project, location=location)
    rows = []
    with open(evaluation.path, encoding="utf-8") as examples:
        for line in examples:
            if len(rows) == max_examples:
                break
            example = json.loads(line)
            *inputs, expected = example["contents"]
            prompt = (
                text(inputs[0])
                if len(inputs) == 1
                else "\n\n".join(f"{turn['role'].capitalize()}: {text(turn)}" for turn in inputs)
            )
            system = example.get("systemInstruction")
            model = GenerativeModel(endpoint, system_instruction=text(system) if system else None)
            answer = model.generate_content(prompt).text
            rows.append({"prompt": prompt, "reference": text(expected), "response": answer})
    result = EvalTask(dataset=pd.DataFrame(rows), metrics=["exact_match", "rouge_l_sum"]).evaluate()
    scores = {name: float(result.summary_metrics[f"{name}/mean"]) for name in ("exact_match", "rouge_l_sum")}
    for name, value in scores.items():
        metrics.log_metric(name, value)
    metrics.log_metric("examples", len(rows))
    failed = {
        name: f"{scores[name]:.4f} < {minimum}"
        for name, minimum in (("exact_match", min_exact_match), ("rouge_l_sum", min_rouge_l))
        if scores[name] < minimum
    }
    if failed:
        raise RuntimeError(f"evaluation gate failed on {len(rows)} examples: {failed}; the model is not registered")
    return scores["rouge_l_sum"]


@dsl.component(base_image=BASE_IMAGE, packages_to_install=[AIPLATFORM])
def register(project: str, location: str, model: str, rouge_l: float) -> str:
    """Mark the tuned model version as having passed the gate; returns its resource name."""
    from google.cloud import aiplatform

    aiplatform.init(project=project, location=location)
    tuned = aiplatform.Model(model)
    score = f"{rouge_l:.3f}".replace(".", "_")  # label values allow [a-z0-9_-] only
    tuned.update(labels={**tuned.labels, "genaiops-gate": "passed", "genaiops-rouge-l": score})
    aiplatform.models.ModelRegistry(tuned).add_version_aliases(["evaluated"], version=tuned.version_id)
    return str(tuned.versioned_resource_name)


@dsl.pipeline(
    name="genaiops-tune",
    description="prepare -> tune -> evaluate -> register: supervised tuning of Gemini behind an evaluation gate",
)
def tune_pipeline(
    project: str,
    source_uri: str,
    location: str = "us-central1",
    base_model: str = "gemini-3.5-flash",
    display_name: str = "genaiops-tuned",
    epochs: int = 3,
    adapter_size: int = 4,
    eval_fraction: float = 0.1,
    max_examples: int = 200,
    min_exact_match: float = 0.0,
    min_rouge_l: float = 0.5,
) -> str:
    prepared = prepare(source_uri=source_uri, eval_fraction=eval_fraction).set_display_name("prepare")
    tuned = tune(
        project=project,
        location=location,
        base_model=base_model,
        train=prepared.outputs["train"],
        epochs=epochs,
        adapter_size=adapter_size,
        display_name=display_name,
    ).set_display_name("tune")
    gate = evaluate(
        project=project,
        location=location,
        endpoint=tuned.outputs["endpoint"],
        evaluation=prepared.outputs["evaluation"],
        max_examples=max_examples,
        min_exact_match=min_exact_match,
        min_rouge_l=min_rouge_l,
    ).set_display_name("evaluate")
    registered = register(
        project=project, location=location, model=tuned.outputs["model"], rouge_l=gate.outputs["Output"]
    ).set_display_name("register")
    return registered.output


def compile_to(path: Path) -> dict:
    """Compile the pipeline with kfp and write its IR to `path` as sorted JSON; returns the IR."""
    with tempfile.TemporaryDirectory() as scratch:
        compiled = Path(scratch) / "tune_pipeline.yaml"  # kfp's own format; JSON output is deprecated in kfp
        compiler.Compiler().compile(tune_pipeline, str(compiled))
        ir: dict = yaml.safe_load(compiled.read_text(encoding="utf-8"))
    path.write_text(json.dumps(ir, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return ir


if __name__ == "__main__":
    compile_to(Path(sys.argv[1]) if len(sys.argv) > 1 else IR)
