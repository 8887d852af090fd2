"""`genaiops models outdated` (issue 20): every manifest field naming a retired or retiring Gemini model is
listed with its position, stage, last day, successor and the prompts that call it (a table or JSON, exit 2);
`--within` narrows the horizon; `--write` moves each one to its successor by changing exactly the model id
text (plain, quoted, with a comment, a Model's `@version` dropped), after which validate passes and a second
run writes nothing; a successor that retires too is skipped for the next one; an edit whose text does not
match, or a file outside the manifests root, is refused with nothing written. Each test names its day."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from controller.cli.main import cli
from controller.cli.manifest_edits import ManifestEditError, apply_edits, inside_root
from controller.engine.model_upgrades import EditRefusedError, TextEdit, edit_text, value_span
from tests.helpers import run_cli

DAY = "2026-01-10"  # gemini-2.0-flash(-001) retires 2026-02-05: 26 days left
OLD = "publishers/google/models/gemini-2.0-flash"
NEW = "publishers/google/models/gemini-2.5-flash"


def _prompt(name: str, model_line: str) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: genaiops/v1
        kind: Prompt
        metadata: {{name: {name}}}
        spec:
        {model_line}
          template: "Hi {{{{ name }}}}"
          variables: {{name: {{type: string}}}}
        """
    )


PROMPTS = "---\n".join(
    [
        "# prompts on publisher models\n" + _prompt("plain", f"  model: {OLD}  # retires 2026-02-05"),
        _prompt("single", f"  model: '{OLD}'"),
        _prompt("double", f'  model: "{OLD}" # quoted, with a comment'),
        _prompt("via-model", "  model: flash"),
        _prompt("via-tuning", "  model: tuned"),
        _prompt("current", f"  model: {NEW}"),
    ]
)
MODELS = """\
apiVersion: genaiops/v1
kind: Model
metadata: {name: flash}
spec:
  publisher: publishers/google/models/gemini-2.0-flash-001@1   # pinned
---
apiVersion: genaiops/v1
kind: Dataset
metadata: {name: train}
spec: {source: data/train.jsonl}
---
apiVersion: genaiops/v1
kind: TuningJob
metadata: {name: tuned}
spec:
  baseModel: gemini-2.0-flash-001
  trainingDataset: train
"""
TRAIN = '{"contents": [{"role": "user", "parts": [{"text": "q"}]}, {"role": "model", "parts": [{"text": "a"}]}]}\n'


def _lifecycle(*rows: str) -> str:
    body = "".join(f"    - {row}\n" for row in rows)
    return f"apiVersion: genaiops/v1\nkind: ModelLifecycle\nmetadata: {{name: ours}}\nspec:\n  models:\n{body}"


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    root = tmp_path / "manifests"
    (root / "data").mkdir(parents=True)
    (root / "data" / "train.jsonl").write_text(TRAIN, encoding="utf-8")
    (root / "prompts.yaml").write_text(PROMPTS, encoding="utf-8")
    (root / "models.yaml").write_text(MODELS, encoding="utf-8")
    return root


def _texts(root: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(root.glob("*.yaml"))}


def _outdated(root: Path, *args: str, today: str = DAY) -> tuple[int, dict[str, Any]]:
    result = run_cli(cli, ["--today", today, "models", "outdated", str(root), "--output", "json", *args])
    return result.exit_code, json.loads(result.output)


def test_every_field_naming_a_retiring_model_is_listed_with_its_successor_and_exit_code_2(manifests: Path) -> None:
    code, document = _outdated(manifests)
    assert code == 2
    assert (document["today"], document["within_days"], document["catalogue"]) == (DAY, 60, "2026-12-02")
    rows = document["outdated"]
    assert isinstance(rows, list)
    where = [(Path(r["file"]).name, r["line"], r["column"], r["manifest"], r["path"]) for r in rows]
    assert where == [
        ("models.yaml", 5, 14, "Model/flash", "spec.publisher"),
        ("models.yaml", 16, 14, "TuningJob/tuned", "spec.baseModel"),
        ("prompts.yaml", 6, 10, "Prompt/plain", "spec.model"),
        ("prompts.yaml", 14, 10, "Prompt/single", "spec.model"),
        ("prompts.yaml", 22, 10, "Prompt/double", "spec.model"),
    ]
    assert {(r["stage"], r["retires"], r["days_left"], r["successor"]) for r in rows} == {
        ("retiring", "2026-02-05", 26, "gemini-2.5-flash")
    }
    assert [r["model"] for r in rows] == ["gemini-2.0-flash-001"] * 2 + ["gemini-2.0-flash"] * 3
    assert [r["used_by"] for r in rows] == [["Prompt/via-model"], ["Prompt/via-tuning"], [], [], []]
    assert document["written"] == []


def test_the_human_report_is_a_table_and_a_summary_line(manifests: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    result = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests)])
    assert result.exit_code == 2
    assert "models.yaml:5:14" in result.output and "Prompt/via-tuning" in result.output
    assert "5 model references outdated on 2026-01-10" in result.output
    assert "0 retired, 5 retiring; 5 with a successor" in result.output
    assert "--write" in result.output


def test_nothing_outdated_is_exit_code_0(manifests: Path) -> None:
    code, document = _outdated(manifests, today="2025-06-01")
    assert (code, document["outdated"]) == (0, [])
    result = run_cli(cli, ["--today", "2025-06-01", "models", "outdated", str(manifests)])
    assert result.exit_code == 0
    assert "No manifest names a model that is retired or retiring" in result.output


def test_a_narrower_within_lists_fewer(manifests: Path) -> None:
    soon = "{model: gemini-0.9-soon, retires: 2026-01-15, successor: gemini-2.5-flash, source: test, as_of: 2026-01-01}"
    (manifests / "lifecycle.yaml").write_text(_lifecycle(soon), encoding="utf-8")
    prompts = manifests / "prompts.yaml"
    prompts.write_text(
        prompts.read_text(encoding="utf-8").replace(f"model: {NEW}", "model: publishers/google/models/gemini-0.9-soon")
    )
    _, wide = _outdated(manifests)
    code, narrow = _outdated(manifests, "--within", "10d")
    assert code == 2
    assert len(wide["outdated"]) == 6
    assert [(r["manifest"], r["days_left"]) for r in narrow["outdated"]] == [("Prompt/current", 5)]
    assert narrow["within_days"] == 10


def test_the_group_retirement_horizon_is_the_default_within(manifests: Path) -> None:
    result = run_cli(
        cli, ["--today", DAY, "--retirement-horizon", "3w", "models", "outdated", str(manifests), "-o", "json"]
    )
    document = json.loads(result.output)
    assert (result.exit_code, document["within_days"], document["outdated"]) == (0, 21, [])


def test_write_changes_exactly_the_model_ids_and_a_second_run_writes_nothing(manifests: Path) -> None:
    before = _texts(manifests)
    result = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests), "--write"])
    assert result.exit_code == 2, result.output
    after = _texts(manifests)
    assert after["prompts.yaml"] == before["prompts.yaml"].replace(OLD, NEW)
    assert after["models.yaml"] == before["models.yaml"].replace(
        "gemini-2.0-flash-001@1   # pinned", "gemini-2.5-flash   # pinned"
    ).replace("baseModel: gemini-2.0-flash-001", "baseModel: gemini-2.5-flash")
    assert "prompts.yaml:6:10 spec.model: gemini-2.0-flash -> gemini-2.5-flash" in result.output
    assert "models.yaml:5:14 spec.publisher: gemini-2.0-flash-001 -> gemini-2.5-flash" in result.output
    assert "genaiops plan" in result.output and "canary" in result.output

    assert run_cli(cli, ["--today", DAY, "validate", str(manifests)]).exit_code == 0
    again = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests), "--write"])
    assert again.exit_code == 0, again.output
    assert "Wrote" not in again.output
    assert _texts(manifests) == after


def test_write_with_json_output_lists_the_changes(manifests: Path) -> None:
    code, document = _outdated(manifests, "--write")
    assert code == 2
    written = document["written"]
    assert isinstance(written, list) and len(written) == 5
    assert written[0].endswith(
        "models.yaml:5:14 spec.publisher: gemini-2.0-flash-001 -> gemini-2.5-flash (version suffix @1 dropped)"
    )


def test_a_successor_retiring_too_is_skipped_for_the_next_in_the_chain(manifests: Path) -> None:
    (manifests / "lifecycle.yaml").write_text(
        _lifecycle(
            "{model: gemini-2.5-flash, retires: 2026-03-01, successor: gemini-7.0-flash, source: t, as_of: 2026-01-01}",
            "{model: gemini-7.0-flash, source: test, as_of: 2026-01-01}",
        ),
        encoding="utf-8",
    )
    code, document = _outdated(manifests, "--write", today="2026-03-10")
    assert code == 2
    rows = document["outdated"]
    assert isinstance(rows, list)
    assert {(r["stage"], r["successor"]) for r in rows if r["manifest"] != "Prompt/current"} == {
        ("retired", "gemini-7.0-flash")
    }
    current = [r for r in rows if r["manifest"] == "Prompt/current"]
    assert [(r["model"], r["stage"], r["successor"]) for r in current] == [
        ("gemini-2.5-flash", "retired", "gemini-7.0-flash")
    ]
    text = (manifests / "prompts.yaml").read_text(encoding="utf-8")
    assert "gemini-2.0-flash" not in text and "gemini-2.5-flash" not in text
    assert text.count("publishers/google/models/gemini-7.0-flash") == 4


def test_a_model_without_a_successor_is_listed_and_left_alone(manifests: Path) -> None:
    orphan = "publishers/google/models/gemini-0.9-orphan"
    (manifests / "lifecycle.yaml").write_text(
        _lifecycle("{model: gemini-0.9-orphan, retires: 2026-01-01, source: t, as_of: 2025-12-01}"), encoding="utf-8"
    )
    prompts = manifests / "prompts.yaml"
    prompts.write_text(prompts.read_text(encoding="utf-8").replace(f"model: {NEW}", f"model: {orphan}"))
    result = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests), "--write"])
    assert result.exit_code == 2
    assert "Wrote 5 changes" in result.output
    assert "1 left as written: the catalogue names no successor" in result.output
    assert f"model: {orphan}" in prompts.read_text(encoding="utf-8")
    code, document = _outdated(manifests, "--write")
    assert code == 2
    assert [(r["manifest"], r["stage"], r["successor"]) for r in document["outdated"]] == [
        ("Prompt/current", "retired", None)
    ]
    assert document["written"] == []


def test_manifests_with_errors_print_the_diagnostics_and_exit_1(manifests: Path) -> None:
    (manifests / "broken.yaml").write_text("apiVersion: genaiops/v1\nkind: Nope\n", encoding="utf-8")
    result = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests)])
    assert result.exit_code == 1
    assert "broken.yaml:2" in result.output


def _edit(file: str, line: int, column: int, old: str = OLD) -> TextEdit:
    return TextEdit(file, line, column, old, NEW, "spec.model", "gemini-2.0-flash", "gemini-2.5-flash")


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        (f"model: {OLD}\n", 8, f"model: {NEW}\n"),
        (f"model: '{OLD}'  # c\n", 8, f"model: '{NEW}'  # c\n"),
        (f'model: "{OLD}"\r\n', 8, f'model: "{NEW}"\r\n'),
        (f"x: {{model: {OLD}, y: 1}}", 12, f"x: {{model: {NEW}, y: 1}}"),
    ],
)
def test_an_edit_replaces_only_the_value_inside_its_scalar(text: str, column: int, expected: str) -> None:
    assert edit_text(text, [_edit("f.yaml", 1, column)]) == expected


@pytest.mark.parametrize(
    ("text", "column"),
    [
        (f"model: {OLD}-lite\n", 8),  # a longer plain scalar
        (f"model: '{OLD}x'\n", 8),  # a longer quoted one
        ("model: publishers/google/models/gemini-2.5-flash\n", 8),  # changed since it was read
        (f"model: {OLD}\n", 9),  # the position moved
        (f"model: {OLD}\n", 80),  # past the end of the line
    ],
)
def test_an_edit_whose_text_does_not_match_is_refused(text: str, column: int) -> None:
    with pytest.raises(EditRefusedError, match=r"f\.yaml:1"):
        value_span(text, _edit("f.yaml", 1, column))
    with pytest.raises(EditRefusedError):
        edit_text(text, [_edit("f.yaml", 1, column)])


def test_a_refused_edit_writes_no_file(tmp_path: Path) -> None:
    good, bad = tmp_path / "a.yaml", tmp_path / "b.yaml"
    good.write_text(f"model: {OLD}\n", encoding="utf-8")
    bad.write_text("model: publishers/google/models/gemini-9-other\n", encoding="utf-8")
    with pytest.raises(ManifestEditError, match=r"b\.yaml:1:8"):
        apply_edits([_edit(str(good), 1, 8), _edit(str(bad), 1, 8)], manifests=tmp_path)
    assert good.read_text(encoding="utf-8") == f"model: {OLD}\n"


def test_a_file_outside_the_manifests_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "manifests"
    root.mkdir()
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(f"model: {OLD}\n", encoding="utf-8")
    (root / "link.yaml").symlink_to(outside)
    for file in (outside, root / "link.yaml"):
        with pytest.raises(ManifestEditError, match="outside the manifests root"):
            inside_root(file, root)
        with pytest.raises(ManifestEditError, match="outside the manifests root"):
            apply_edits([_edit(str(file), 1, 8)], manifests=root)
    assert outside.read_text(encoding="utf-8") == f"model: {OLD}\n"


def test_a_written_file_keeps_its_byte_order_mark_and_mode(tmp_path: Path) -> None:
    file = tmp_path / "a.yaml"
    file.write_bytes(b"\xef\xbb\xbf# c\nmodel: " + OLD.encode() + b"\n")
    file.chmod(0o640)
    apply_edits([_edit(str(file), 2, 8)], manifests=tmp_path)
    assert file.read_bytes() == b"\xef\xbb\xbf# c\nmodel: " + NEW.encode() + b"\n"
    assert file.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["a.yaml"]


def test_a_write_killed_between_two_files_converges_on_the_next_run(
    manifests: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kill point of `--write`: between two files' atomic replacements. The first file holds the
    successor, the second the old model; a rerun lists and writes only what is left, ending where an
    uninterrupted run ends."""
    import controller.cli.manifest_edits as edits_module

    untouched = _texts(manifests)
    run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests), "--write"])
    finished = _texts(manifests)
    for name, text in untouched.items():
        (manifests / name).write_text(text, encoding="utf-8")

    real = edits_module.write_atomically
    calls = {"n": 0}

    def dies_on_the_second_file(target: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(5, "the process died here")
        real(target, data)

    monkeypatch.setattr(edits_module, "write_atomically", dies_on_the_second_file)
    killed = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests), "--write"])
    assert killed.exit_code == 1 and "already written" in killed.output, killed.output
    half = _texts(manifests)
    assert sum(half[name] != untouched[name] for name in half) == 1  # one file written whole, one untouched
    monkeypatch.setattr(edits_module, "write_atomically", real)

    code, document = _outdated(manifests)
    assert code == 2 and {row["file"] for row in document["outdated"]} == {
        str(manifests / name) for name in half if half[name] == untouched[name]
    }
    rerun = run_cli(cli, ["--today", DAY, "models", "outdated", str(manifests), "--write"])
    assert rerun.exit_code == 2, rerun.output
    assert _texts(manifests) == finished
    assert _outdated(manifests)[0] == 0
