"""Reading one gemini-sft evaluation example: the last model turn is the expected answer, everything
before it the input, and a line that is not such an example says what is wrong with it."""

from __future__ import annotations

from typing import Any

import pytest

from controller.evaluation.examples import examples_of


def turn(role: str, *texts: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"text": text} for text in texts]}


def test_a_single_turn_example_asks_the_user_text_with_the_system_instruction_and_expects_the_model_text() -> None:
    line = {
        "systemInstruction": {"role": "system", "parts": [{"text": "Answer with one word."}]},
        "contents": [turn("user", "Capital of France?"), turn("model", "Paris")],
    }
    prompt_text, system_instruction, expected = examples_of(line)

    assert (prompt_text, system_instruction, expected) == ("Capital of France?", "Answer with one word.", "Paris")


def test_an_example_without_a_system_instruction_has_none() -> None:
    assert examples_of({"contents": [turn("user", "Hi"), turn("model", "Hello")]}).system_instruction is None


def test_the_text_parts_of_a_turn_are_joined() -> None:
    example = examples_of({"contents": [turn("user", "Say ", "hi"), turn("model", '{"a":', " 1}")]})
    assert (example.prompt_text, example.expected) == ("Say hi", '{"a": 1}')


def test_a_conversation_before_the_last_model_turn_becomes_a_transcript() -> None:
    line = {
        "contents": [
            turn("user", "Hi"),
            turn("model", "Hello, how can I help?"),
            turn("user", "Refund"),
            turn("model", "Sure."),
        ]
    }
    example = examples_of(line)

    assert example.prompt_text == "User: Hi\n\nModel: Hello, how can I help?\n\nUser: Refund"
    assert example.expected == "Sure."


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({}, "'contents' must list at least one input turn and the expected model turn"),
        ({"contents": [turn("model", "Paris")]}, "at least one input turn"),
        (
            {"contents": [turn("user", "Q"), turn("model", "A"), turn("user", "Q2")]},
            "last turn of 'contents' must be the model's",
        ),
        ({"contents": [turn("system", "Q"), turn("model", "A")]}, "contents[0].role must be 'user' or 'model'"),
        ({"contents": [turn("user", "Q"), {"role": "model", "parts": []}]}, "contents[1] needs 'parts'"),
        (
            {"contents": [turn("user", "Q"), {"role": "model", "parts": [{"inlineData": {}}]}]},
            "contents[1].parts[0] has no 'text': only text parts can be scored",
        ),
        (
            {"systemInstruction": "be brief", "contents": [turn("user", "Q"), turn("model", "A")]},
            "systemInstruction needs 'parts'",
        ),
    ],
    ids=["no-contents", "no-input", "ends-with-the-user", "unknown-role", "no-parts", "not-text", "bare-instruction"],
)
def test_a_line_that_is_not_an_evaluation_example_is_refused_saying_why(line: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as refused:
        examples_of(line)
    assert message in str(refused.value)
