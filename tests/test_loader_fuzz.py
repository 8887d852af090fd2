"""Property test: random mutations of the valid example manifests never crash the loader.

Whatever the mutation (a deleted or renamed key, a value of another type, a duplicated list item, random
text, a truncated or garbled file, a broken template), `load()` returns a LoadResult whose problems are
diagnostics that render; it never raises. Bounded and derandomized, so CI sees the same examples each run.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.diagnostics import Diagnostic
from controller.loader import LoadResult, load

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
FILES = sorted(p.relative_to(MANIFESTS).as_posix() for p in MANIFESTS.rglob("*") if p.is_file())
YAML_FILES = [name for name in FILES if name.endswith((".yaml", ".yml"))]
DOCUMENTS: dict[str, list[Any]] = {
    name: list(yaml.safe_load_all((MANIFESTS / name).read_text(encoding="utf-8"))) for name in YAML_FILES
}

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "genaiops/v1", "Model", "Endpoint", "Prompt", "canary", "direct", "30s", "100"]),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
jinja = st.sampled_from(
    [
        "{{ name | no_such_filter }}",
        "{% if name is no_such_test %}x{% endif %}",
        "{% for a in b %}",
        "{% endfor %}",
        "{{ a.b[0](c, d=e) }}",
        "{% set x = %}",
        "{% include 'other.j2' %}",
        "{% extends base %}",
        "{% macro m(x) %}{{ x }}{% endmacro %}",
        "{% raw %}",
        "{{",
        "}}",
        "{#",
    ]
)
noise = st.text(alphabet=st.sampled_from(list(":-[]{}&*!|>'\"#%@`,?\t\n {{}}\x00\x85\ufeffé\u2028")), max_size=12)


def _containers(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every mapping and list inside a document, with the path that reaches it."""
    if isinstance(node, dict | list):
        yield path, node
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            yield from _containers(child, (*path, key))


def _mutate(data: st.DataObject, document: Any) -> Any:
    """Apply one random structural mutation somewhere in `document` (mutates in place, returns it)."""
    places = [c for _, c in _containers(document) if c]
    if not places:
        return data.draw(values, label="replacement document")
    node = data.draw(st.sampled_from(places), label="container")
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    key = data.draw(st.sampled_from(keys), label="key")
    operation = data.draw(
        st.sampled_from(["delete", "replace", "duplicate", "rename", "retext", "wrap"]), label="operation"
    )
    if operation == "delete":
        del node[key]
    elif operation == "replace":
        node[key] = data.draw(values, label="value")
    elif operation == "duplicate":
        if isinstance(node, list):
            node.insert(key, node[key])
        else:
            node[data.draw(st.text(max_size=12), label="copy key")] = node[key]
    elif operation == "rename" and isinstance(node, dict):
        node[data.draw(st.text(max_size=12), label="new key")] = node.pop(key)
    elif operation == "retext" and isinstance(node[key], str):
        node[key] = data.draw(st.text(max_size=30), label="text")
    else:
        node[key] = [node[key]] if data.draw(st.booleans(), label="in list") else {"x": node[key]}
    return document


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of manifests/ (templates and recorded responses included), made once per module."""
    target = tmp_path_factory.mktemp("fuzz") / "manifests"
    shutil.copytree(MANIFESTS, target)
    return target


@contextmanager
def _with_file(root: Path, name: str, text: str) -> Iterator[Path]:
    """`root` with `name` replaced by `text` for the duration of one example."""
    path = root / name
    original = path.read_bytes()
    path.write_text(text, encoding="utf-8")
    try:
        yield root
    finally:
        path.write_bytes(original)


def _assert_only_diagnostics(result: object) -> None:
    assert isinstance(result, LoadResult)
    for diagnostic in result.diagnostics:
        assert isinstance(diagnostic, Diagnostic)
        assert diagnostic.summary
        assert isinstance(diagnostic.render(), str)


def test_the_example_manifests_load_cleanly() -> None:
    result = load(MANIFESTS)
    assert result.ok, [d.render() for d in result.diagnostics]


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_structural_mutations_of_valid_manifests_yield_only_diagnostics(scratch: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(YAML_FILES), label="file")
    documents = yaml.safe_load(yaml.safe_dump(DOCUMENTS[name]))  # a deep copy
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="mutations")):
        index = data.draw(st.integers(min_value=0, max_value=len(documents) - 1), label="document")
        documents[index] = _mutate(data, documents[index])
    text = yaml.safe_dump_all(documents, allow_unicode=True, sort_keys=False)
    with _with_file(scratch, name, text) as root:
        _assert_only_diagnostics(load(root))


@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_raw_text_mutations_of_manifests_and_templates_yield_only_diagnostics(
    scratch: Path, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(FILES), label="file")
    text = (MANIFESTS / name).read_text(encoding="utf-8")
    for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="edits")):
        at = data.draw(st.integers(min_value=0, max_value=len(text)), label="position")
        edit = data.draw(st.sampled_from(["truncate", "insert", "delete", "random", "jinja"]), label="edit")
        if edit == "truncate":
            text = text[:at]
        elif edit == "insert":
            text = text[:at] + data.draw(noise, label="noise") + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 20), label="length") :]
        elif edit == "jinja":
            text = text[:at] + data.draw(jinja, label="jinja") + text[at:]
        else:
            text = text[:at] + data.draw(st.text(max_size=20), label="random text") + text[at:]
    with _with_file(scratch, name, text) as root:
        _assert_only_diagnostics(load(root))
