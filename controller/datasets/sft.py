"""The Gemini supervised-tuning format: the check of one JSONL line, pure (text in, problems out).

Rules, from Google's "Prepare supervised fine-tuning data for Gemini models"
(https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning-prepare) and the
limits in "About supervised fine-tuning for Gemini models"
(https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning):

- The file is JSON Lines: each line is one example, a JSON object.
- `contents` (required) is the conversation: a list of Content objects, each with a `role` (`user` or
  `model`) and `parts`. We require the turns to alternate starting with `user` and to end with `model`
  (the answer the model is tuned to give); the docs call `role` optional only for single-turn prompts,
  which a tuning example never is.
- A part holds one of `text` (a string) or `fileData` (`mimeType` and `fileUri`, the file in Cloud
  Storage). `functionCall` / `functionResponse` parts (tuning with `tools`, function calling) are accepted
  unchecked. Empty text is an error.
- `systemInstruction` (optional) is a Content whose `parts` hold text; its `role` is ignored by Vertex AI.
- `tools` (optional) is accepted unchecked; any other top-level key is a warning (Vertex AI ignores or
  rejects it, depending on the model).
- Limits (they depend on the model): input and output tokens per training example 131,072 for Gemini 2.5
  Flash (32,000 for Gemini 1.5); training file up to 1 GB of JSONL; validation set up to 5,000 examples
  (256 for Gemini 1.5); at most 1M text-only training examples. Over a limit is a warning here, since
  the token count is an estimate: Gemini tokens are about 4 characters, so tokens ~ ceil(characters / 4)
  (as the local emulator counts), not the model's tokenizer. `fileData` parts count no tokens here.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from controller.diagnostics import Severity

ROLES = ("user", "model")
TOP_LEVEL_KEYS = ("contents", "systemInstruction", "tools")
CONTENT_KEYS = ("role", "parts")
CHECKED_PARTS = ("text", "fileData")
UNCHECKED_PARTS = ("functionCall", "functionResponse")
CHARS_PER_TOKEN = 4
MAX_EXAMPLE_TOKENS = 131_072  # Gemini 2.5 Flash; Gemini 1.5 allowed 32,000
MAX_FILE_BYTES = 1024**3  # "Up to 1GB for JSONL"
MAX_VALIDATION_EXAMPLES = 5_000  # Gemini 2.5; Gemini 1.5 allowed 256
MAX_TRAINING_EXAMPLES = 1_000_000  # text-only


def estimate_tokens(characters: int) -> int:
    """An estimate, not the tokenizer: about 4 characters per Gemini token."""
    return math.ceil(characters / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a line: the field path (`contents[1].role`, "" for the line) and what was
    expected. `column` is 1-based when the check knows it exactly (a JSON syntax error), else 0."""

    path: str
    message: str
    severity: Severity = Severity.ERROR
    column: int = 0


@dataclass
class _Tally:
    """What one example holds, gathered while checking it."""

    problems: list[Problem] = field(default_factory=list)
    characters: int = 0
    file_parts: int = 0

    def error(self, path: str, message: str) -> None:
        self.problems.append(Problem(path=path, message=message))

    def warn(self, path: str, message: str) -> None:
        self.problems.append(Problem(path=path, message=message, severity=Severity.WARNING))


@dataclass(frozen=True)
class Checked:
    """The verdict on one line and what the example measured (for counts and token estimates)."""

    problems: tuple[Problem, ...] = ()
    turns: int = 0
    characters: int = 0
    file_parts: int = 0
    has_system: bool = False
    parsed: bool = True  # False when the line is not a JSON object at all

    @property
    def tokens(self) -> int:
        return estimate_tokens(self.characters)

    @property
    def ok(self) -> bool:
        return not any(p.severity is Severity.ERROR for p in self.problems)


def check_line(data: bytes, *, max_tokens: int = MAX_EXAMPLE_TOKENS) -> Checked:
    """Check one line of a JSONL file (without its line ending)."""
    if not data.strip():
        return Checked(problems=(Problem("", "empty line: each line must be one JSON example"),), parsed=False)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        problem = Problem("", f"not UTF-8 text (byte 0x{data[err.start]:02x})", column=err.start + 1)
        return Checked(problems=(problem,), parsed=False)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return Checked(problems=(Problem("", f"not valid JSON: {err.msg}", column=err.colno),), parsed=False)
    except RecursionError:
        return Checked(problems=(Problem("", "not valid JSON: nested too deeply"),), parsed=False)
    return check_example(value, max_tokens=max_tokens)


def check_example(value: object, *, max_tokens: int = MAX_EXAMPLE_TOKENS) -> Checked:
    """Check one parsed example against the Gemini supervised-tuning format."""
    if not isinstance(value, dict):
        message = f"expected a JSON object with `contents` (got {_kind(value)})"
        return Checked(problems=(Problem("", message),), parsed=False)
    tally = _Tally()
    for key in value:
        if key not in TOP_LEVEL_KEYS:
            tally.warn(key, f"unknown field (expected {', '.join(TOP_LEVEL_KEYS)})")
    has_system = "systemInstruction" in value
    if has_system:
        _check_system(value["systemInstruction"], tally)
    turns = _check_contents(value.get("contents"), "contents" in value, tally)
    tokens = estimate_tokens(tally.characters)
    if tokens > max_tokens:
        tally.warn("", f"about {tokens:,} tokens (characters / 4), over the {max_tokens:,} tokens of one example")
    return Checked(
        problems=tuple(tally.problems),
        turns=turns,
        characters=tally.characters,
        file_parts=tally.file_parts,
        has_system=has_system,
    )


def _check_system(value: object, tally: _Tally) -> None:
    if not isinstance(value, dict):
        tally.error("systemInstruction", f"expected an object with `parts` (got {_kind(value)})")
        return
    parts = _parts_list(value, "systemInstruction", tally)
    for index, part in enumerate(parts):
        path = f"systemInstruction.parts[{index}]"
        if isinstance(part, dict) and "text" not in part:
            tally.error(path, "a system instruction part needs `text`")
            continue
        _check_part(part, path, tally)


def _check_contents(value: object, present: bool, tally: _Tally) -> int:
    if not present:
        tally.error("contents", "missing: a list of turns, `user` then `model`")
        return 0
    if not isinstance(value, list) or not value:
        got = "an empty list" if isinstance(value, list) else _kind(value)
        tally.error("contents", f"expected a non-empty list of turns (got {got})")
        return 0
    previous: str | None = None
    flagged = False  # the last turn's role already has a problem: one message per field is enough
    for index, content in enumerate(value):
        path = f"contents[{index}]"
        role = _check_content(content, path, tally)
        expected = "model" if previous == "user" else "user"
        flagged = role is None
        judged = index == 0 or previous is not None  # after an unknown role, the order cannot be judged
        if role is not None and judged and role != expected:
            after = f' after "{previous}"' if previous else " first"
            tally.error(f"{path}.role", f'expected "{expected}"{after}: turns alternate user, model (got "{role}")')
            flagged = True
        previous = role
    if previous == "user" and not flagged:
        tally.error(f"contents[{len(value) - 1}].role", 'the last turn must be "model": the answer to tune on')
    return len(value)


def _check_content(content: object, path: str, tally: _Tally) -> str | None:
    """Check one turn; return its role when it is a known one."""
    if not isinstance(content, dict):
        tally.error(path, f"expected an object with `role` and `parts` (got {_kind(content)})")
        return None
    for key in content:
        if key not in CONTENT_KEYS:
            tally.warn(f"{path}.{key}", "unknown field (expected role, parts)")
    role = content.get("role")
    known: str | None = None
    if "role" not in content:
        tally.error(f"{path}.role", 'missing: "user" or "model"')
    elif role not in ROLES:
        tally.error(f"{path}.role", f'expected "user" or "model" (got {json.dumps(role)})')
    else:
        known = str(role)
    for index, part in enumerate(_parts_list(content, path, tally)):
        _check_part(part, f"{path}.parts[{index}]", tally)
    return known


def _parts_list(content: dict[str, object], path: str, tally: _Tally) -> list[object]:
    parts = content.get("parts")
    if "parts" not in content:
        tally.error(f"{path}.parts", 'missing: a list of parts such as {"text": ...}')
        return []
    if not isinstance(parts, list) or not parts:
        got = "an empty list" if isinstance(parts, list) else _kind(parts)
        tally.error(f"{path}.parts", f"expected a non-empty list of parts (got {got})")
        return []
    return parts


def _check_part(part: object, path: str, tally: _Tally) -> None:
    if not isinstance(part, dict):
        tally.error(path, f'expected an object such as {{"text": ...}} (got {_kind(part)})')
        return
    kinds = [key for key in part if key in CHECKED_PARTS or key in UNCHECKED_PARTS]
    for key in part:
        if key not in kinds:
            tally.warn(f"{path}.{key}", "unknown field (expected text or fileData)")
    if not kinds:
        tally.error(path, "a part needs `text` or `fileData`")
    elif len(kinds) > 1:
        tally.error(path, f"a part holds one of text or fileData (got {' and '.join(kinds)})")
    elif kinds[0] == "text":
        _check_text(part["text"], f"{path}.text", tally)
    elif kinds[0] == "fileData":
        _check_file_data(part["fileData"], f"{path}.fileData", tally)
    elif not isinstance(part[kinds[0]], dict):
        tally.error(f"{path}.{kinds[0]}", f"expected an object (got {_kind(part[kinds[0]])})")


def _check_text(text: object, path: str, tally: _Tally) -> None:
    if not isinstance(text, str):
        tally.error(path, f"expected a string (got {_kind(text)})")
    elif not text.strip():
        tally.error(path, "empty text: a part must say something")
    else:
        tally.characters += len(text)


def _check_file_data(value: object, path: str, tally: _Tally) -> None:
    if not isinstance(value, dict):
        tally.error(path, f"expected an object with mimeType and fileUri (got {_kind(value)})")
        return
    tally.file_parts += 1
    for key in ("mimeType", "fileUri"):
        if not isinstance(value.get(key), str) or not str(value.get(key)).strip():
            got = "missing" if key not in value else f"got {_kind(value[key])}"
            tally.error(f"{path}.{key}", f"expected a non-empty string ({got})")


def _kind(value: object) -> str:
    """How a JSON value reads in a message."""
    match value:
        case None:
            return "null"
        case bool():
            return "a boolean"
        case int() | float():
            return "a number"
        case str():
            return "an empty string" if not value else "a string"
        case list():
            return "a list"
        case dict():
            return "an object"
    return type(value).__name__
