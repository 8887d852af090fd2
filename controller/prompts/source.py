"""A loaded prompt ready to render, test or publish: the manifest, its template text, and where each part
came from, so that an error can name the file and line (of the template file, or of the manifest).

Built from the loader's `Located` items (`sources_of(result)`); reads template and response files next to
the manifest, through the loader's rules (relative paths inside the manifests root, regular files, size
limits). Pure apart from those reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from controller.diagnostics import Source
from controller.errors import UserError
from controller.loader.checks import MAX_RESPONSE_BYTES, MAX_TEMPLATE_BYTES, Located
from controller.loader.files import FileRefusedError, read_local
from controller.model import Manifest, Prompt, PromptTest
from controller.model.suggest import did_you_mean
from controller.prompts.models import EndpointApi, endpoint_api_of, vertex_model


@dataclass(frozen=True)
class PromptSource:
    """One Prompt manifest with its template text resolved.

    `template_file` is the file the template text lives in (the .j2 file, or the manifest for an inline
    template) and `template_line` the line of that file where template line 1 is."""

    prompt: Prompt
    manifest_file: str
    template: str
    template_file: str
    template_line: int
    located: Located | None = None
    vertex_model: str = ""  # the Vertex AI model the manifests resolve `spec.model` to (`models.py`)
    fallback_vertex_model: str = ""  # the same for `spec.fallbackModel` ("" when there is none)
    tuned: bool = False  # `vertex_model` is a tuned Gemini model's endpoint: called with GenerateContent
    endpoint_api: EndpointApi | None = None  # how the manifests say `vertex_model` is called (None: by name)

    @property
    def api(self) -> EndpointApi | None:
        """How `vertex_model` is called: GenerateContent for a tuned Gemini endpoint, else `endpoint_api`."""
        return "generateContent" if self.tuned else self.endpoint_api

    @property
    def name(self) -> str:
        """The prompt's `metadata.name`."""
        return self.prompt.metadata.name

    def at_template_line(self, line: int, column: int = 1) -> Source:
        """The file position of a 1-based template line."""
        return Source(self.template_file, self.template_line + max(line, 1) - 1, column)

    def at_field(self, *path: str | int) -> Source:
        """The manifest position of a field (for example `("spec", "variables", "tone")`)."""
        if self.located is None:
            return Source(self.manifest_file)
        line, column = self.located.positions.of_key(path)
        return Source(self.manifest_file, line, column)

    def at_test(self, index: int) -> Source:
        """Where the `index`-th test is declared."""
        return self.at_field("spec", "tests", index, "name")

    def response_of(self, test: PromptTest) -> str | None:
        """The recorded response of a test: inline, from its file next to the manifest, or None."""
        if test.response is not None:
            return test.response
        if test.response_file is None:
            return None
        try:
            if self.located is not None:
                return self.located.read_named_file(test.response_file, limit=MAX_RESPONSE_BYTES).text
            manifest_dir = Path(self.manifest_file).parent
            return read_local(
                test.response_file, manifest_file=self.manifest_file, root=manifest_dir, limit=MAX_RESPONSE_BYTES
            ).text
        except FileRefusedError as err:
            raise UserError(f"{self.manifest_file}: response file {test.response_file!r} {err.reason}") from err


def _inline_start(file: str, line: int, column: int) -> int:
    """Template line 1 of an inline `template:`: the next line after a block scalar indicator (| or >)."""
    try:
        text = Path(file).read_text(encoding="utf-8").splitlines()[line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return line
    return line + 1 if text[column - 1 : column] in ("|", ">") else line


def source_of(item: Located, *, manifests: Sequence[Manifest] = ()) -> PromptSource:
    """Resolve one located Prompt manifest (its model against `manifests`, see `models.py`); raises
    UserError when its template file cannot be read."""
    prompt = item.manifest
    if not isinstance(prompt, Prompt):
        raise TypeError(f"{item.label} is not a Prompt")
    spec = prompt.spec
    model = vertex_model(spec.model, manifests)
    fallback = vertex_model(spec.fallback_model, manifests) if spec.fallback_model else ""
    api = endpoint_api_of(model, manifests)  # chatCompletions: every deployment on it serves chat models
    if spec.template_file is not None:
        try:
            found = item.read_named_file(spec.template_file, limit=MAX_TEMPLATE_BYTES)
        except FileRefusedError as err:
            raise UserError(f"{item.file}: template file {spec.template_file!r} {err.reason}") from err
        return PromptSource(prompt, item.file, found.text, str(found.path), 1, item, model, fallback, endpoint_api=api)
    assert spec.template is not None
    line, column = item.positions.of_value(("spec", "template"))
    start = _inline_start(item.file, line, column)
    return PromptSource(prompt, item.file, spec.template, item.file, start, item, model, fallback, endpoint_api=api)


def sources_of(items: Iterable[Located], *, name: str | None = None) -> list[PromptSource]:
    """Every Prompt among `items` (or the one called `name`; UserError if there is none), in load order."""
    located = list(items)
    manifests = [i.manifest for i in located]
    found = [source_of(i, manifests=manifests) for i in located if isinstance(i.manifest, Prompt)]
    if name is None:
        return found
    chosen = [s for s in found if s.name == name]
    if not chosen:
        known = ", ".join(s.name for s in found) or "none"
        hint = did_you_mean(name, [s.name for s in found])
        raise UserError(f"no Prompt named {name!r} in the manifests (found: {known}){hint}")
    return chosen
