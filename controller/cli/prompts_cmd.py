"""`genaiops prompts ...`: render, test, plan and publish prompts; move labels, roll back, snapshot.

The composition root for prompts: loads manifests, opens the prompt store (`--prompt-store gs://bucket/
prefix` or a directory; default `.genaiops/local/prompt-store`, the local target's), builds the live model
for `test --live`, and maps outcomes to exit codes (0 ok, 1 error or failed test, 2 changes present with
`plan --detailed-exitcode`).
"""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import yaml

from controller.cli.console import make_console
from controller.cli.options import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, load_or_exit
from controller.cli.paths import InputFile, OutputFile, check_store_url
from controller.cli.wiring import ConsoleHooks, report_apply
from controller.engine.apply import ApplyOptions, apply_changes
from controller.engine.audit import AuditLog
from controller.engine.planning import plan_load
from controller.engine.session import NoLock, Session
from controller.errors import GenaiopsError, UserError
from controller.loader import LoadResult
from controller.prompts.client import snapshot_of
from controller.prompts.junit import to_junit_xml
from controller.prompts.render import render_source
from controller.prompts.source import PromptSource, sources_of
from controller.prompts.store import PromptStore, move_label, promote, rollback
from controller.prompts.testing import Responder, RunReport, Status, run_tests
from controller.prompts.variables import parse_assignments
from controller.prompts.version import Provenance, version_of
from controller.views.plan_human import render_plan
from controller.views.prompt_history import history_json, history_lines

DEFAULT_STORE = ".genaiops/local/prompt-store"
DEFAULT_PATH = Path("manifests")
_STYLE = {"+": "green", "-": "red", "~": "yellow", "@": "cyan"}

store_option = click.option(
    "--prompt-store",
    "store_url",
    envvar="GENAIOPS_PROMPT_STORE",
    callback=check_store_url,
    default=DEFAULT_STORE,
    show_default=True,
    help="gs://BUCKET[/PREFIX] (honours STORAGE_EMULATOR_HOST) or a directory.",
)


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _open_store(url: str) -> PromptStore:
    from controller.providers.prompt_store import open_store

    return open_store(url)


def _name_and_path(args: tuple[str, ...]) -> tuple[str | None, Path]:
    """`[NAME] [PATH]`: one argument is a PATH when it exists on disk, else a NAME."""
    if len(args) > 2:
        raise click.UsageError(f"expected at most NAME and PATH (got {' '.join(args)})")
    if len(args) == 2:
        return args[0], Path(args[1])
    if len(args) == 1:
        return (None, Path(args[0])) if Path(args[0]).exists() else (args[0], DEFAULT_PATH)
    return None, DEFAULT_PATH


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def provenance(commit: str | None, author: str | None) -> Provenance:
    """Now, the git commit (flag, GITHUB_SHA or `git rev-parse HEAD`) and the author (flag, GITHUB_ACTOR,
    git's user.email, or the login name)."""
    return Provenance(
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        commit=commit or os.environ.get("GITHUB_SHA") or _git("rev-parse", "HEAD"),
        author=author or os.environ.get("GITHUB_ACTOR") or _git("config", "user.email") or getpass.getuser(),
    )


def _styled(line: str) -> str:
    """Diff colours: + green, - red, ~ yellow, @@ cyan, file headers bold (plain when not a terminal)."""
    stripped = line.lstrip()
    if stripped.startswith(("---", "+++")):
        return click.style(line, bold=True)
    colour = _STYLE.get(stripped[:1])
    return click.style(line, fg=colour) if colour else line


@click.group("prompts")
def prompts_group() -> None:
    """Render, test, plan and publish the Prompt manifests."""


@prompts_group.command("render")
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path), default=DEFAULT_PATH)
@click.option("--var", "pairs", multiple=True, metavar="NAME=VALUE", help="A variable (read as its declared type).")
@click.option("--vars", "vars_file", type=InputFile(), help="Variables from YAML/JSON.")
@click.option("--test", "test_name", help="Use the variables of this declared test.")
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
def render_cmd(
    name: str, path: Path, pairs: tuple[str, ...], vars_file: Path | None, test_name: str | None, output: str
) -> None:
    """Render prompt NAME from the manifests under PATH, strictly (every variable checked)."""
    result = load_or_exit(path)
    try:
        source = sources_of(result.manifests, name=name)[0]
        values = _values(source, pairs, vars_file, test_name)
        rendered = render_source(source, values)
    except (GenaiopsError, ValueError) as err:
        _fail(str(err))
        return
    if output == "json":
        document = {**vars(rendered), "version": version_of(source).id}
        click.echo(json.dumps(document, indent=2, ensure_ascii=False, default=dict))
    else:
        click.echo(rendered.text, nl=not rendered.text.endswith("\n"))


def _values(source: PromptSource, pairs: tuple[str, ...], vars_file: Path | None, test: str | None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if test is not None:
        found = next((t for t in source.prompt.spec.tests if t.name == test), None)
        if found is None:
            raise UserError(f"prompt {source.name!r} has no test {test!r}")
        values.update(found.vars)
    if vars_file is not None:
        try:
            loaded = yaml.safe_load(vars_file.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError) as err:
            raise UserError(f"{vars_file}: cannot read the variables: {_first_line(err)}") from err
        if not isinstance(loaded, dict):
            raise UserError(f"{vars_file}: expected a mapping of variable names to values")
        values.update(loaded)
    values.update(parse_assignments(pairs, source.prompt.spec.variables))
    return values


@prompts_group.command("test")
@click.argument("args", nargs=-1, metavar="[NAME] [PATH]")
@click.option("--test", "test_name", help="Run only the declared test with this name.")
@click.option("--junit-xml", type=OutputFile(), help="Also write the results as JUnit XML.")
@click.option("--live", is_flag=True, help="Ask the model on Vertex AI instead of using recorded responses.")
@click.option("--emulator", envvar="GENAIOPS_EMULATOR", metavar="HOST:PORT", help="--live against this emulator.")
@click.option("--project", envvar="GOOGLE_CLOUD_PROJECT", help="--live: the Google Cloud project.")
@click.option("--endpoint", help="--live: send every prompt to this Endpoint (ID or resource name).")
@click.option("--region", help="--live: region of the endpoint or publisher model (default: from manifests).")
def test_cmd(
    args: tuple[str, ...],
    test_name: str | None,
    junit_xml: Path | None,
    live: bool,
    emulator: str | None,
    project: str | None,
    endpoint: str | None,
    region: str | None,
) -> None:
    """Run the tests declared in Prompt manifests: recorded responses offline (the default), or --live."""
    name, path = _name_and_path(args)
    result = load_or_exit(path)
    try:
        sources = sources_of(result.manifests, name=name)
        if live:
            report = _run_live(result, sources, test_name, emulator, project, endpoint, region)
        else:
            report = run_tests(sources, only_test=test_name)
    except GenaiopsError as err:
        _fail(str(err))
        return
    _print_report(report)
    if junit_xml is not None:
        try:
            junit_xml.parent.mkdir(parents=True, exist_ok=True)
            junit_xml.write_text(to_junit_xml(report), encoding="utf-8")
        except OSError as err:
            _fail(f"cannot write the JUnit XML file {junit_xml}: {err.strerror or err}")
        click.echo(f"Wrote JUnit XML to {junit_xml}")
    sys.exit(report.exit_code)


def _run_live(
    result: LoadResult,
    sources: list[PromptSource],
    test_name: str | None,
    emulator: str | None,
    project: str | None,
    endpoint: str | None,
    region: str | None,
) -> RunReport:
    from controller.prompts.live import live_target
    from controller.providers.connections import plain_channel
    from controller.providers.prompt_live import VertexPromptModel, prediction_client

    if not emulator and not project:
        raise UserError("--live needs --project (or GOOGLE_CLOUD_PROJECT) or --emulator HOST:PORT")
    project = project or "local-project"
    manifests = [item.manifest for item in result.manifests]
    channel = plain_channel(emulator) if emulator else None
    try:
        models = {}
        for source in sources:
            target = live_target(source.prompt, manifests, project=project, endpoint=endpoint, region=region)
            models[source.name] = VertexPromptModel(prediction_client(region=target.region, channel=channel), target)
        respond: Responder = lambda rendered: models[rendered.name](rendered)  # noqa: E731
        return run_tests(sources, respond=respond, only_test=test_name)
    finally:
        if channel is not None:
            channel.close()


def _print_report(report: RunReport) -> None:
    marks = {
        Status.PASSED: click.style("PASS", fg="green"),
        Status.FAILED: click.style("FAIL", fg="red"),
        Status.ERROR: click.style("ERROR", fg="red"),
        Status.SKIPPED: click.style("SKIP", fg="yellow"),
    }
    for suite in report.suites:
        for case in suite.cases:
            click.echo(f"{marks[case.status]} {case.prompt} / {case.test}  ({case.source})")
            if case.status is Status.FAILED:
                for failure in case.failures:
                    click.echo(f"    {failure.type}: {failure.message}")
            elif case.message:
                for line in case.message.splitlines():
                    click.echo(f"    {line}")
    click.echo(report.summary() + (" (live)" if report.live else ""))


def _store_session(store_url: str) -> Session:
    """A session on the prompt store alone (no Vertex AI; the store's writes are compare-and-swap)."""
    return Session(
        name=f"prompt store {store_url}",
        ports={},
        metrics=None,
        lock=NoLock(),
        open_prompts=lambda: _open_store(store_url),
    )


@prompts_group.command("plan")
@click.argument("path", type=click.Path(path_type=Path), default=DEFAULT_PATH)
@store_option
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when there are none.")
def plan_cmd(path: Path, store_url: str, detailed_exitcode: bool) -> None:
    """Show what publish would change: new versions, template diffs, config field diffs, label moves."""
    result = load_or_exit(path)
    try:
        plan = plan_load(_store_session(store_url), result, prune=False, prompts_only=True)
    except GenaiopsError as err:
        _fail(str(err))
        return
    render_plan(plan, make_console())
    sys.exit(EXIT_CHANGES if detailed_exitcode and plan.summary().has_changes else EXIT_OK)


@prompts_group.command("publish")
@click.argument("path", type=click.Path(path_type=Path), default=DEFAULT_PATH)
@store_option
@click.option("--commit", help="Git commit to record (default: GITHUB_SHA or `git rev-parse HEAD`).")
@click.option("--author", help="Author to record (default: GITHUB_ACTOR, git user.email or the login name).")
@click.option("--audit-log", type=OutputFile(special_ok=True), default=Path(".genaiops/audit.log"), show_default=True)
def publish_cmd(path: Path, store_url: str, commit: str | None, author: str | None, audit_log: Path) -> None:
    """Publish new prompt versions to the store and point the manifests' labels at them (the same apply
    routine as `genaiops apply`, restricted to prompts)."""
    result = load_or_exit(path)
    console = make_console()
    who = provenance(commit, author)
    try:
        outcome = apply_changes(
            _store_session(store_url),
            result,
            options=ApplyOptions(prompts_only=True, commit=who.commit or None, author=who.author),
            audit=AuditLog(audit_log),
            hooks=ConsoleHooks(console, auto_approve=True),
        )
    except GenaiopsError as err:
        _fail(str(err))
        return
    report_apply(outcome, console, wait=False)
    changed = sum(1 for r in outcome.result.results if r.ok)
    click.echo(f"Publish complete: {changed} prompt{'s' if changed != 1 else ''} changed in {store_url}.")
    sys.exit(outcome.exit_code(wait=False))


@prompts_group.command("label")
@click.argument("name")
@click.argument("label")
@click.argument("version")
@store_option
@click.option("--author", help="Author to record.")
def label_cmd(name: str, label: str, version: str, store_url: str, author: str | None) -> None:
    """Point LABEL of prompt NAME at a published VERSION (an unambiguous prefix is enough)."""
    try:
        index = move_label(_open_store(store_url), name, label, version, provenance(None, author))
    except GenaiopsError as err:
        _fail(str(err))
        return
    click.echo(f"Prompt/{name}: {label} -> {index.labels[label]}")


@prompts_group.command("promote")
@click.argument("name")
@click.option("--from", "source", required=True, help="The label whose version to promote, e.g. staging.")
@click.option("--to", "target", required=True, help="The label to point at it, e.g. production.")
@store_option
@click.option("--author", help="Author to record.")
def promote_cmd(name: str, source: str, target: str, store_url: str, author: str | None) -> None:
    """Point label --to of prompt NAME at the version label --from points at (compare-and-swap, recorded in
    the label history: `prompts rollback NAME --label TO` undoes it)."""
    try:
        done = promote(_open_store(store_url), name, source, target, provenance(None, author))
    except GenaiopsError as err:
        _fail(str(err))
        return
    if not done.moved:
        click.echo(f"Prompt/{name}: {target} already points at {done.version} (as {source} does); nothing moved.")
        return
    was = f" (was {done.previous})" if done.previous else " (new label)"
    click.echo(f"Prompt/{name}: {target} -> {done.version}{was}, the version {source} points at")


@prompts_group.command("rollback")
@click.argument("name")
@click.option("--label", required=True, help="The label (environment) to move back, e.g. production.")
@store_option
@click.option("--author", help="Author to record.")
def rollback_cmd(name: str, label: str, store_url: str, author: str | None) -> None:
    """Move LABEL of prompt NAME back to the version it pointed at before its latest move."""
    try:
        index = rollback(_open_store(store_url), name, label, provenance(None, author))
    except GenaiopsError as err:
        _fail(str(err))
        return
    click.echo(f"Prompt/{name}: {label} rolled back to {index.labels[label]}")


@prompts_group.command("history")
@click.argument("name")
@store_option
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
def history_cmd(name: str, store_url: str, output: str) -> None:
    """List the published versions of prompt NAME, newest first, with the labels pointing at each."""
    try:
        index = _open_store(store_url).read_index(name)
        if index is None:
            raise UserError(f"prompt {name!r} was never published to {store_url}")
    except GenaiopsError as err:
        _fail(str(err))
        return
    if output == "json":
        click.echo(history_json(index, store=store_url))
        return
    for line in history_lines(index):
        click.echo(line)


@prompts_group.command("snapshot")
@click.option("--label", "labels", multiple=True, default=("production",), show_default=True)
@click.option("--out", type=OutputFile(), default=Path("prompts.snapshot.json"), show_default=True)
@click.option("--prompt", "names", multiple=True, help="Only these prompts (default: all in the store).")
@store_option
def snapshot_cmd(labels: tuple[str, ...], out: Path, names: tuple[str, ...], store_url: str) -> None:
    """Write the versions the labels point at to a file the runtime client falls back to."""
    try:
        snapshot = snapshot_of(
            _open_store(store_url),
            labels,
            names=names or None,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
    except GenaiopsError as err:
        _fail(str(err))
        return
    try:
        snapshot.save(out)
    except OSError as err:
        _fail(f"cannot write the snapshot {out}: {err.strerror or err}")
    count = sum(len(p) for p in snapshot.labels.values())
    click.echo(f"Wrote {count} prompt version{'s' if count != 1 else ''} to {out}")


__all__ = ["prompts_group", "provenance"]
