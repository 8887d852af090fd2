"""`genaiops data ...`: tools for Gemini supervised-tuning datasets, before a `Dataset` manifest names one.

`validate FILE` checks every line against the format (controller/datasets/sft.py) and prints the first
problems as `file:line:column field.path: message`, then the counts and an estimate of the tokens;
`convert SOURCE TARGET` turns CSV or prompt/completion JSONL into that format; `split FILE` writes a
deterministic training / validation split; `stats FILE` prints counts, token estimates and the content
hash. All stream the file (bounded memory for a 1 GB file). This module only parses options, calls
controller/datasets and prints; exit codes follow DESIGN.md: 0 fine (warnings allowed), 1 any error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from controller.datasets.conversion import Columns, SourceFormat, convert_file, guess_format
from controller.datasets.scan import DEFAULT_MAX_PROBLEMS, ScanReport, scan_file
from controller.datasets.sft import MAX_EXAMPLE_TOKENS, MAX_VALIDATION_EXAMPLES
from controller.datasets.split import default_outputs, split_file
from controller.datasets.stats import DatasetStats
from controller.diagnostics import Diagnostic, Severity
from controller.errors import UserError

EXIT_OK = 0
EXIT_ERROR = 1
JSON_FORMAT_VERSION = "1"

file_argument = click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
output_option = click.option("--output", "-o", type=click.Choice(["human", "json"]), default="human", show_default=True)
max_problems_option = click.option(
    "--max-problems",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_PROBLEMS,
    show_default=True,
    help="Print at most this many problems, then how many more there were.",
)


@click.group("data")
def data_group() -> None:
    """Check, convert, split and summarise Gemini supervised-tuning datasets (JSONL)."""


@data_group.command("validate")
@file_argument
@output_option
@max_problems_option
@click.option(
    "--max-tokens",
    type=click.IntRange(min=1),
    default=MAX_EXAMPLE_TOKENS,
    show_default=True,
    help="Warn about an example estimated over this many tokens (Gemini 1.5 allowed 32000).",
)
def validate_cmd(file: Path, output: str, max_problems: int, max_tokens: int) -> None:
    """Check FILE against the Gemini supervised-tuning format; count examples and estimate tokens."""
    report = _scan(file, max_problems=max_problems, max_tokens=max_tokens)
    if output == "json":
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        _echo_problems(report.diagnostics, omitted=report.omitted)
        click.echo(validate_summary(report))
    sys.exit(EXIT_OK if report.ok else EXIT_ERROR)


@data_group.command("stats")
@file_argument
@output_option
def stats_cmd(file: Path, output: str) -> None:
    """Counts, estimated tokens per example (a histogram), turns and the sha256 content hash of FILE."""
    report = _scan(file, max_problems=DEFAULT_MAX_PROBLEMS, max_tokens=MAX_EXAMPLE_TOKENS)
    if output == "json":
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        for line in stats_lines(report):
            click.echo(line)
        if not report.ok:
            click.echo(f"{report.stats.errors:,} error(s): run `genaiops data validate {file}` to see them", err=True)
    sys.exit(EXIT_OK if report.ok else EXIT_ERROR)


@data_group.command("convert")
@click.argument("source", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--from", "source_format", type=click.Choice(["csv", "jsonl"]), help="Input format (default: by extension)."
)
@click.option("--prompt-column", default="prompt", show_default=True, help="CSV column or JSON key of the prompt.")
@click.option(
    "--completion-column", default="completion", show_default=True, help="CSV column or JSON key of the answer."
)
@click.option("--system-column", default="system", show_default=True, help="Column or key of a system instruction.")
@click.option("--system", "system_text", help="System instruction for every example that has none of its own.")
@click.option("--skip-invalid", is_flag=True, help="Skip bad rows (reported as warnings) instead of failing.")
@max_problems_option
def convert_cmd(
    source: Path,
    target: Path,
    source_format: str | None,
    prompt_column: str,
    completion_column: str,
    system_column: str,
    system_text: str | None,
    skip_invalid: bool,
    max_problems: int,
) -> None:
    """Convert SOURCE (CSV with a header, or JSONL with prompt/completion) into Gemini tuning JSONL at TARGET."""
    columns = Columns(prompt=prompt_column, completion=completion_column, system=system_column or None)
    try:
        chosen: SourceFormat = "csv" if source_format == "csv" else "jsonl"
        if source_format is None:
            chosen = guess_format(source)
        report = convert_file(
            source,
            target,
            source_format=chosen,
            columns=columns,
            system=system_text,
            skip_invalid=skip_invalid,
            max_problems=max_problems,
        )
    except UserError as err:
        _fail(str(err))
    except OSError as err:
        _fail(_os_message(err))
    _echo_problems(report.diagnostics, omitted=report.omitted)
    if not report.ok:
        click.echo(f"nothing written: {report.errors:,} error(s) in {source}", err=True)
        sys.exit(EXIT_ERROR)
    skipped = f" ({report.skipped:,} row(s) skipped)" if report.skipped else ""
    click.echo(f"wrote {report.written:,} example(s) to {target}{skipped}")


@data_group.command("split")
@file_argument
@click.option(
    "--validation",
    "fraction",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=0.1,
    show_default=True,
    help="Share of lines that go to the validation set (met on average, by hash).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed gives the same split anywhere.")
@click.option("--train-out", type=click.Path(path_type=Path, dir_okay=False), help="Default: FILE.train.jsonl")
@click.option(
    "--validation-out", type=click.Path(path_type=Path, dir_okay=False), help="Default: FILE.validation.jsonl"
)
def split_cmd(file: Path, fraction: float, seed: int, train_out: Path | None, validation_out: Path | None) -> None:
    """Split FILE into training and validation sets, deterministically by hash of (seed, line)."""
    default_train, default_validation = default_outputs(file)
    training, validation = train_out or default_train, validation_out or default_validation
    try:
        counts = split_file(file, training=training, validation=validation, fraction=fraction, seed=seed)
    except UserError as err:
        _fail(str(err))
    except OSError as err:
        _fail(_os_message(err))
    total = counts.training + counts.validation
    share = counts.validation / total if total else 0.0
    click.echo(f"training:   {counts.training:,} example(s) -> {training}")
    click.echo(f"validation: {counts.validation:,} example(s) -> {validation} ({share:.1%}; seed {seed})")
    if counts.validation_over_limit:
        click.echo(
            f"warning: {counts.validation:,} validation examples: Vertex AI accepts at most "
            f"{MAX_VALIDATION_EXAMPLES:,} (256 for Gemini 1.5); lower --validation",
            err=True,
        )
    if total and counts.validation == 0:
        click.echo("warning: the validation set is empty; raise --validation", err=True)


def report_json(report: ScanReport) -> dict[str, Any]:
    """The versioned document of `data validate --output json` and `data stats --output json`."""
    return {
        "format_version": JSON_FORMAT_VERSION,
        "file": report.file,
        "valid": report.ok,
        "size_bytes": report.size_bytes,
        "sha256": report.sha256,
        **report.stats.as_dict(),
        "diagnostics": [d.to_json() for d in report.diagnostics],
        "diagnostics_omitted": report.omitted,
    }


def validate_summary(report: ScanReport) -> str:
    """The last line of `data validate`."""
    stats = report.stats
    tokens = _tokens_phrase(stats)
    if report.ok:
        warnings = f", {stats.warnings:,} warning(s)" if stats.warnings else ""
        return f"Valid: {report.file}: {stats.examples:,} example(s){warnings}; {tokens}"
    return (
        f"{report.file}: {stats.errors:,} error(s), {stats.warnings:,} warning(s) on {stats.invalid_lines:,} of "
        f"{stats.lines:,} line(s); {stats.valid_examples:,} valid example(s); {tokens}"
    )


def stats_lines(report: ScanReport) -> list[str]:
    """The human form of `data stats`."""
    stats = report.stats
    lines = [
        f"file:               {report.file}",
        f"size:               {report.size_bytes:,} bytes",
        f"sha256:             {report.sha256}",
        f"examples:           {stats.examples:,} ({stats.valid_examples:,} valid; {stats.invalid_lines:,} line(s) "
        "with errors)",
        f"tokens (estimate):  {_tokens_phrase(stats)}; mean {stats.mean_tokens:,.1f}, min {stats.min_tokens:,}",
        f"turns:              mean {stats.mean_turns:.2f}, max {stats.max_turns:,}; {stats.multi_turn:,} multi-turn "
        "example(s)",
        f"systemInstruction:  {stats.with_system_instruction:,} example(s)",
        f"fileData parts:     {stats.file_parts:,}",
    ]
    histogram = stats.as_dict()["estimated_tokens"]
    assert isinstance(histogram, dict)
    buckets: dict[str, int] = histogram["histogram"]
    if buckets:
        lines.append("tokens per example:")
        lines.extend(f"  {bucket:>9}  {count:,}" for bucket, count in buckets.items())
    return lines


def _tokens_phrase(stats: DatasetStats) -> str:
    if not stats.examples:
        return "no tokens"
    return (
        f"about {stats.tokens:,} tokens (characters / 4), at most {stats.max_tokens:,} in one example "
        f"(line {stats.max_tokens_line:,})"
    )


def _scan(file: Path, *, max_problems: int, max_tokens: int) -> ScanReport:
    try:
        return scan_file(file, max_problems=max_problems, max_tokens=max_tokens)
    except OSError as err:
        _fail(_os_message(err))


def _echo_problems(diagnostics: tuple[Diagnostic, ...], *, omitted: int) -> None:
    color = sys.stdout.isatty()
    for diagnostic in diagnostics:
        line = diagnostic.render()
        fg = "red" if diagnostic.severity is Severity.ERROR else "yellow"
        click.echo(click.style(line, fg=fg) if color else line)
    if omitted:
        click.echo(f"... and {omitted:,} more problem(s) (see --max-problems)")


def _os_message(err: OSError) -> str:
    where = f"{err.filename}: " if err.filename else ""
    return f"{where}{err.strerror or err}"


def _fail(message: str) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_ERROR)
