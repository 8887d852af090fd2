"""The dashboard's static pages without a browser: every asset index.html references is there, nothing
reaches outside the server (no external URL, no inline script or handler: the server's CSP allows only
'self'), app.js asks for every JSON route of shapes.py and routes every page, the assets are package data
(an installed wheel carries them), and `node --check` parses the JavaScript when node is on PATH.
The pages themselves are tested in Chromium by the browser tests beside this file.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import pytest

from controller.dashboard import shapes

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "controller" / "dashboard" / "static"
ASSETS = sorted(p for p in STATIC.iterdir() if p.is_file())
TEXT_ASSETS = [p for p in ASSETS if p.suffix in {".html", ".css", ".js", ".svg"}]
JS = [p for p in ASSETS if p.suffix == ".js"]
# XML namespace names are identifiers, never fetched: the only http(s) strings an asset may hold.
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?\bfrom\s+["']([^"']+)["']""", re.M)
HASH_ROUTES = ["#/rollout/", "#/experiment/", "#/prompts", "#/prompt/", "#/cost", "#/audit"]


class _Refs(HTMLParser):
    """The src/href attributes, inline <script> bodies and on* attributes of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.handlers: list[str] = []
        self.inline_scripts: list[str] = []
        self.styles: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.refs += [value for name, value in attrs if name in {"src", "href"} and value]
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        self.styles += [tag for name, _ in attrs if name == "style"]
        self._in_script = tag == "script" and "src" not in named
        if tag == "style":
            self.styles.append("<style>")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts.append(data.strip())


def _index() -> _Refs:
    parser = _Refs()
    parser.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    return parser


def test_the_static_directory_holds_the_page_its_styles_and_its_scripts() -> None:
    names = {p.name for p in ASSETS}
    assert {"index.html", "app.css", "app.js", "charts.js"} <= names
    assert not [p for p in STATIC.iterdir() if p.is_dir()], "the server serves only files directly in static/"


def test_every_file_index_html_references_exists_in_static() -> None:
    local = [ref for ref in _index().refs if not ref.startswith("#")]
    assert any(ref.endswith("app.js") for ref in local)
    assert any(ref.endswith("app.css") for ref in local)
    for ref in local:
        assert ref.startswith("static/"), f"{ref}: assets are served at static/<name> (relative, no host)"
        assert (STATIC / ref.removeprefix("static/")).is_file(), f"index.html references a missing {ref}"


def test_every_module_a_script_imports_exists_in_static() -> None:
    for script in JS:
        for target in IMPORT.findall(script.read_text(encoding="utf-8")):
            assert target.startswith("./"), f"{script.name} imports {target}: only sibling files are served"
            assert (STATIC / target.removeprefix("./")).is_file(), f"{script.name} imports a missing {target}"


@pytest.mark.parametrize("asset", TEXT_ASSETS, ids=lambda p: p.name)
def test_no_asset_names_an_external_url(asset: Path) -> None:
    text = asset.read_text(encoding="utf-8")
    external = set(re.findall(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'`)<>]*""", text))
    external = {url for url in external if url not in NAMESPACES}
    assert not external, f"{asset.name} reaches outside the server: {sorted(external)}"


def test_index_html_has_no_inline_script_handler_or_style() -> None:
    parsed = _index()
    assert not parsed.inline_scripts, "the CSP allows scripts from 'self' only"
    assert not parsed.handlers, f"inline event handlers: {parsed.handlers}"
    assert not parsed.styles, "the CSP allows styles from 'self' only"


@pytest.mark.parametrize("script", JS, ids=lambda p: p.name)
def test_the_scripts_write_no_inline_handler_script_or_style_into_the_page(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert not re.search(r"""<[a-z][^<>]*\son[a-z]+\s*=""", text), "an inline event handler in generated HTML"
    assert not re.search(r"<script", text, re.I), "a script element in generated HTML"
    assert not re.search(r"""\sstyle=["'$]""", text), "an inline style attribute (blocked by the CSP)"
    assert not re.search(r"\beval\s*\(|new\s+Function\s*\(", text), "eval is blocked by the CSP"


def test_app_js_asks_for_every_json_route_of_the_api() -> None:
    documented = re.findall(r"^\s+/api/([a-z-]+)", shapes.__doc__ or "", re.M)
    assert {"overview", "rollout", "experiment", "prompts", "prompt", "prompt-diff", "cost", "audit", "events"} <= set(
        documented
    )
    app = (STATIC / "app.js").read_text(encoding="utf-8")
    for route in documented:
        assert re.search(rf"""["'`]api/{re.escape(route)}[?"'`$]""", app), f"app.js never requests /api/{route}"


def test_app_js_routes_every_page_and_documents_the_test_hooks() -> None:
    app = (STATIC / "app.js").read_text(encoding="utf-8")
    header = app.split("\nimport ", 1)[0]
    for route in HASH_ROUTES:
        assert route in header, f"the route {route} is not documented at the top of app.js"
    for page in ("overview", "rollout", "experiment", "prompts", "prompt", "cost", "audit"):
        assert re.search(rf"^PAGES\.{page} = \{{", app, re.M), f"no page {page}"
    for hook in ("resources", "timeline", "weights", "metric-", "threshold", "diff", "audit-row", "data-verdict"):
        assert hook in header, f"the hook {hook} is not documented at the top of app.js"
    assert "window.__genaiops" in app
    assert 'EventSource("api/events")' in app


def test_pyproject_ships_the_assets_as_package_data() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "dashboard/static/*" in pyproject["tool"]["setuptools"]["package-data"]["controller"]


def test_the_installed_package_carries_every_asset() -> None:
    static = files("controller.dashboard").joinpath("static")
    shipped = {entry.name for entry in static.iterdir() if entry.is_file()}
    assert {p.name for p in ASSETS} <= shipped
    assert static.joinpath("index.html").read_text(encoding="utf-8") == (STATIC / "index.html").read_text(
        encoding="utf-8"
    )


@pytest.mark.parametrize("script", JS, ids=lambda p: p.name)
def test_node_parses_each_script_as_a_module(script: Path, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the JavaScript syntax check needs it (the other checks ran)")
    # --check reads .js as CommonJS unless a package.json says otherwise; a copy as .mjs is parsed as a module.
    module = tmp_path / (script.stem + ".mjs")
    module.write_text(script.read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run([node, "--check", str(module)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
