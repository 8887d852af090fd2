"""One example of a gemini-sft evaluation Dataset -> the prompt to send and the answer expected back.

Place in the flow: the engine reads an evaluation Dataset's JSONL line by line, turns each line (already
parsed JSON) into an `Example` here, asks the tuned model for an answer to `prompt_text` (with
`system_instruction`), and hands (expected, answer) pairs to `controller.evaluation.gate.score`. Pure.

A gemini-sft line is `{"systemInstruction": {"parts": [{"text": ...}]}, "contents": [{"role": "user",
"parts": [{"text": ...}]}, {"role": "model", "parts": [...]}, ...]}`. The last turn must be the model's:
it is the expected answer; everything before it is the input. A single input turn is sent as its text; a
longer conversation is flattened into a transcript ("User: ...", "Model: ...", blank-line separated),
which is what a text scorer can compare, not a replay of the chat.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

_ROLES = {"user": "User", "model": "Model"}


class Example(NamedTuple):
    """What to ask and what answer is expected."""

    prompt_text: str
    system_instruction: str | None
    expected: str


def _text(content: Any, where: str) -> str:
    """The concatenated text parts of one content (`{"role"?, "parts": [{"text": ...}]}`)."""
    parts = content.get("parts") if isinstance(content, Mapping) else None
    if not isinstance(parts, list) or not parts:
        raise ValueError(f"{where} needs 'parts', a non-empty list")
    texts = []
    for i, part in enumerate(parts):
        text = part.get("text") if isinstance(part, Mapping) else None
        if not isinstance(text, str):
            raise ValueError(f"{where}.parts[{i}] has no 'text': only text parts can be scored")
        texts.append(text)
    return "".join(texts)


def examples_of(line: Mapping[str, Any]) -> Example:
    """The (prompt_text, system_instruction, expected) of one parsed gemini-sft line; ValueError says what
    is wrong with a line that is not one."""
    contents = line.get("contents")
    if not isinstance(contents, list) or len(contents) < 2:
        raise ValueError("'contents' must list at least one input turn and the expected model turn")
    turns: list[tuple[str, str]] = []
    for i, content in enumerate(contents):
        role = content.get("role") if isinstance(content, Mapping) else None
        if role not in _ROLES:
            raise ValueError(f"contents[{i}].role must be 'user' or 'model' (got {role!r})")
        turns.append((role, _text(content, f"contents[{i}]")))
    *inputs, (last_role, expected) = turns
    if last_role != "model":
        raise ValueError("the last turn of 'contents' must be the model's: it is the expected answer")
    transcript = "\n\n".join(f"{_ROLES[role]}: {text}" for role, text in inputs)
    prompt_text = inputs[0][1] if len(inputs) == 1 else transcript
    system = line.get("systemInstruction", line.get("system_instruction"))
    system_instruction = None if system is None else _text(system, "systemInstruction")
    return Example(prompt_text, system_instruction, expected)


__all__ = ["Example", "examples_of"]
