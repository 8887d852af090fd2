"""GitSource against real git repositories created in tmp_path and reached through file:// URLs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller.errors import UserError
from controller.providers.git_source import Checkout, GitSource, GitSourceError, redact_url

IDENTITY = ["-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com"]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *IDENTITY, *args], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def commit_file(repo: Path, relative: str, text: str, message: str) -> str:
    target = repo / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    repo = tmp_path / "upstream"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=main")
    commit_file(repo, "manifests/endpoint.yaml", "traffic: {primary: 100}\n", "First endpoint")
    return repo


def source_for(repo: Path, tmp_path: Path, *, branch: str = "main", path: str = "manifests") -> GitSource:
    return GitSource(repo.as_uri(), branch=branch, path=path, cache_dir=tmp_path / "cache", timeout_s=30)


def test_the_first_fetch_clones_and_returns_the_commit_and_its_manifests(upstream: Path, tmp_path: Path) -> None:
    checkout = source_for(upstream, tmp_path).fetch()

    assert isinstance(checkout, Checkout)
    assert checkout.sha == git(upstream, "rev-parse", "HEAD")
    assert len(checkout.sha) == 40
    assert checkout.short_sha == checkout.sha[:12]
    assert checkout.author == "Ada Lovelace <ada@example.com>"
    assert checkout.subject == "First endpoint"
    assert checkout.committed_at[:2] == "20" and "T" in checkout.committed_at
    assert (checkout.manifests / "endpoint.yaml").read_text() == "traffic: {primary: 100}\n"
    assert checkout.manifests.is_relative_to(tmp_path / "cache")


def test_a_new_commit_is_picked_up_on_the_next_fetch(upstream: Path, tmp_path: Path) -> None:
    source = source_for(upstream, tmp_path)
    first = source.fetch()
    second_sha = commit_file(upstream, "manifests/endpoint.yaml", "traffic: {primary: 90, canary: 10}\n", "Canary")

    second = source.fetch()

    assert second.sha == second_sha != first.sha
    assert second.subject == "Canary"
    assert (second.manifests / "endpoint.yaml").read_text() == "traffic: {primary: 90, canary: 10}\n"


def test_fetching_an_unchanged_branch_returns_the_same_commit(upstream: Path, tmp_path: Path) -> None:
    source = source_for(upstream, tmp_path)

    assert source.fetch() == source.fetch()


def test_a_force_pushed_branch_is_followed(upstream: Path, tmp_path: Path) -> None:
    source = source_for(upstream, tmp_path)
    base = git(upstream, "rev-parse", "HEAD")
    commit_file(upstream, "manifests/bad.yaml", "oops\n", "Bad commit")
    assert (source.fetch().manifests / "bad.yaml").exists()
    git(upstream, "reset", "--quiet", "--hard", base)
    rewritten = commit_file(upstream, "manifests/good.yaml", "fine\n", "Rewritten history")

    checkout = source.fetch()

    assert checkout.sha == rewritten
    assert not (checkout.manifests / "bad.yaml").exists()
    assert (checkout.manifests / "good.yaml").read_text() == "fine\n"


def test_local_edits_and_stray_files_in_the_cache_are_discarded(upstream: Path, tmp_path: Path) -> None:
    source = source_for(upstream, tmp_path)
    checkout = source.fetch()
    (checkout.manifests / "endpoint.yaml").write_text("tampered\n")
    (checkout.manifests / "stray.yaml").write_text("stray\n")

    again = source.fetch()

    assert (again.manifests / "endpoint.yaml").read_text() == "traffic: {primary: 100}\n"
    assert not (again.manifests / "stray.yaml").exists()


def test_a_path_that_disappears_is_an_error_naming_the_commit(upstream: Path, tmp_path: Path) -> None:
    source = source_for(upstream, tmp_path)
    source.fetch()
    git(upstream, "rm", "--quiet", "-r", "manifests")
    removed = commit_file(upstream, "README.md", "moved elsewhere\n", "Remove manifests")

    with pytest.raises(GitSourceError, match=r"'manifests' does not exist in commit") as raised:
        source.fetch()

    assert raised.value.sha == removed
    assert removed[:12] in str(raised.value)
    assert isinstance(raised.value, UserError)


def test_a_path_may_be_given_with_a_trailing_slash_or_as_the_root(upstream: Path, tmp_path: Path) -> None:
    nested = source_for(upstream, tmp_path, path="manifests/").fetch()
    root = GitSource(upstream.as_uri(), path=".", cache_dir=tmp_path / "other").fetch()

    assert (nested.manifests / "endpoint.yaml").is_file()
    assert (root.manifests / "manifests" / "endpoint.yaml").is_file()


def test_an_unknown_branch_is_an_error_with_gits_stderr(upstream: Path, tmp_path: Path) -> None:
    with pytest.raises(GitSourceError, match=r"fetch branch 'release'.*couldn't find remote ref"):
        source_for(upstream, tmp_path, branch="release").fetch()


def test_an_unreachable_url_is_an_error_with_gits_stderr(tmp_path: Path) -> None:
    source = GitSource((tmp_path / "no-such-repo").as_uri(), cache_dir=tmp_path / "cache", timeout_s=30)

    with pytest.raises(GitSourceError, match=r"could not fetch branch 'main'.*git exited 128: .*no-such-repo"):
        source.fetch()


def test_a_missing_git_binary_is_a_clear_error(upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    with pytest.raises(GitSourceError, match="git is not installed"):
        source_for(upstream, tmp_path).fetch()


def test_a_broken_cache_is_rebuilt(upstream: Path, tmp_path: Path) -> None:
    source = source_for(upstream, tmp_path)
    source.fetch()
    git(source.workdir, "remote", "set-url", "origin", "file:///elsewhere")

    assert source.fetch().sha == git(upstream, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    ("url", "branch", "path"),
    [
        ("--upload-pack=evil", "main", "m"),
        ("file:///r", "-x", "m"),
        ("file:///r", "a..b", "m"),
        ("file:///r", "main", "../up"),
    ],
)
def test_option_like_or_escaping_inputs_are_refused(url: str, branch: str, path: str, tmp_path: Path) -> None:
    with pytest.raises(GitSourceError, match=r"invalid|relative"):
        GitSource(url, branch=branch, path=path, cache_dir=tmp_path)


def test_passwords_in_urls_are_redacted_from_messages() -> None:
    assert (
        redact_url("https://bot:s3cret@git.example.com/org/repo.git") == "https://bot:***@git.example.com/org/repo.git"
    )
    assert redact_url("https://git.example.com/org/repo.git") == "https://git.example.com/org/repo.git"
    assert "s3cret" not in GitSource("https://bot:s3cret@h/r.git", cache_dir=Path("/tmp/x")).describe()
