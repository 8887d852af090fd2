"""The evaluation gate's scorers: one (expected, answer) pair -> a score in [0, 1].

Place in the flow: a TuningJob's evaluation (controller/model/tuning.py, `GateMetric`) names a metric; the
gate (`controller.evaluation.gate`) asks `resolve` here for its scorer, runs it over every example of the
evaluation Dataset and averages. Everything here is pure and deterministic; the only effect is importing an
operator-allowed custom scorer.

Built-ins (`BUILTIN_SCORERS` in the model):

- `exact-match`: 1.0 when the answer equals the expected text, else 0.0. Vertex AI's evaluation service
  defines exact_match as "1 if prediction and reference exactly match, otherwise 0" (ExactMatchSpec);
  we compare **case-sensitively** like it, but after a whitespace normalisation it does not do: Unicode NFC,
  leading/trailing whitespace stripped and every inner run of whitespace collapsed to one space, since a
  model's answer routinely differs from the reference only by a final newline. Case is kept: for labels,
  codes and JSON keys "Yes" and "yes" may be different answers.
- `rouge-l`: ROUGE-L F-measure (harmonic mean of LCS precision and recall) as google-research's
  `rouge_score.rouge_scorer.RougeScorer(["rougeL"])` computes it without stemming: lowercase, split on
  anything that is not a letter or digit, longest common subsequence of the token lists. One deliberate
  difference: rouge_score keeps only ASCII `[a-z0-9]` (so "café" becomes "caf"); we keep every Unicode letter
  and digit, which is the same on ASCII text. Empty on either side scores 0 (as rouge_score does).
- `json-valid`: 1.0 when the whole answer (surrounding whitespace aside) parses as one JSON value (RFC 8259:
  objects, arrays, strings, numbers, true/false/null; Python's NaN/Infinity extensions refused), else 0.0.
  A Markdown-fenced answer (```json ... ```) is not JSON: say so in the prompt, or write a custom scorer.

Custom scorers (`scorer: package.module:function`, called `function(expected, answer) -> float`) are
imported by dotted module name only, never from a file path, and only when the module is inside an
allow-list the operator gives (`GENAIOPS_SCORERS="mypkg.,other.module"` or the `allowed` argument): a
manifest author must not be able to make the controller run arbitrary code. An entry ending in "." allows
every module below that package; an entry without one allows that module and its submodules (so
`other.module` does not allow `other.modulex`). Every value a custom scorer returns is checked to be a
real number in [0, 1]; anything else is a `ScorerError` naming the scorer.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from controller.model.tuning import BUILTIN_SCORERS, GateMetric

Scorer = Callable[[str, str], float]
"""`scorer(expected, answer) -> score in [0, 1]`."""

ENV_ALLOWED = "GENAIOPS_SCORERS"

_WHITESPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"[^\W_]+")  # runs of Unicode letters and digits (underscore is a separator, as in rouge_score)
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class ScorerError(ValueError):
    """A scorer that cannot be used: not allowed, not importable, not callable, or it returned a bad value."""


def normalise(text: str) -> str:
    """`text` in NFC, stripped, with every run of whitespace collapsed to one space (case kept)."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def exact_match(expected: str, answer: str) -> float:
    """1.0 when the answer equals the expected text after `normalise` (case-sensitive), else 0.0."""
    return 1.0 if normalise(expected) == normalise(answer) else 0.0


def tokens(text: str) -> list[str]:
    """ROUGE tokens: the lowercased runs of letters and digits of `text`; punctuation and spaces separate."""
    return _TOKEN.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """The length of the longest common subsequence of `a` and `b` (O(len(a) * len(b)) time, O(len(b)) space)."""
    if len(b) > len(a):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def rouge_l(expected: str, answer: str) -> float:
    """ROUGE-L F-measure of the answer against the expected text (0.0 when either has no token)."""
    reference, candidate = tokens(expected), tokens(answer)
    if not reference or not candidate:
        return 0.0
    common = lcs_length(reference, candidate)
    if common == 0:
        return 0.0
    precision, recall = common / len(candidate), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def json_valid(expected: str, answer: str) -> float:
    """1.0 when the answer is one JSON value (NaN and Infinity refused), else 0.0; `expected` is unused."""
    del expected
    try:
        json.loads(answer, parse_constant=_refuse_constant)
    except ValueError:  # json.JSONDecodeError is a ValueError
        return 0.0
    return 1.0


BUILTINS: Mapping[str, Scorer] = {"exact-match": exact_match, "rouge-l": rouge_l, "json-valid": json_valid}
assert set(BUILTINS) == set(BUILTIN_SCORERS), "the model's built-in names and these scorers must agree"


def allowed_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The allow-list in `GENAIOPS_SCORERS` (comma-separated module prefixes; blanks ignored)."""
    value = (os.environ if environ is None else environ).get(ENV_ALLOWED, "")
    return tuple(entry.strip() for entry in value.split(",") if entry.strip())


def is_allowed(module: str, allowed: Sequence[str]) -> bool:
    """Whether dotted `module` is inside one of the `allowed` prefixes (see the module docstring)."""
    for entry in allowed:
        if entry.endswith("."):
            if module.startswith(entry):
                return True
        elif module == entry or module.startswith(entry + "."):
            return True
    return False


def _check_prefixes(allowed: Sequence[str]) -> None:
    for entry in allowed:
        if not _DOTTED.fullmatch(entry.removesuffix(".")):
            raise ScorerError(
                f"{ENV_ALLOWED} entry {entry!r} is not a dotted module prefix such as 'mypkg.' or 'mypkg.scoring' "
                "(scorers are imported by module name, never from a file path)"
            )


def _lives_under(module: str, directory: Path) -> bool:
    """Whether the top-level package of `module` would be imported from inside `directory` (found, not run)."""
    found = importlib.util.find_spec(module.split(".", 1)[0])
    if found is None:
        return False
    places = [found.origin] if found.origin else []
    places += list(found.submodule_search_locations or [])
    root = directory.resolve()
    return any(Path(place).resolve().is_relative_to(root) for place in places if place)


def load_scorer(spec: str, *, allowed: Sequence[str] | None = None, refuse_under: Path | None = None) -> Scorer:
    """The function `spec` (`package.module:function`) names, imported only when its module is allowed.

    `allowed` defaults to `GENAIOPS_SCORERS`. `refuse_under` (the manifests root) refuses a module whose
    package would be imported from inside that directory, checked before any of its code runs: code that
    arrives with the manifests is not an installed package the operator allowed."""
    prefixes = allowed_from_env() if allowed is None else tuple(allowed)
    _check_prefixes(prefixes)
    module_name, sep, function_name = spec.partition(":")
    if not sep or not _DOTTED.fullmatch(module_name) or not function_name.isidentifier():
        raise ScorerError(f"scorer {spec!r} must be written package.module:function (a module name, not a path)")
    if not prefixes:
        raise ScorerError(
            f"scorer {spec!r} refused: no custom scorers are allowed; the operator allows modules with "
            f"{ENV_ALLOWED}=prefix (e.g. {ENV_ALLOWED}={module_name.split('.')[0]}.)"
        )
    if not is_allowed(module_name, prefixes):
        raise ScorerError(
            f"scorer {spec!r} refused: module {module_name!r} is not under an allowed prefix "
            f"({ENV_ALLOWED}={','.join(prefixes)})"
        )
    if refuse_under is not None and _lives_under(module_name, refuse_under):
        raise ScorerError(
            f"scorer {spec!r} refused: module {module_name!r} would be imported from inside {str(refuse_under)!r}; "
            "install the scorer as a package instead"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ScorerError(f"scorer {spec!r}: cannot import {module_name!r}: {err}") from err
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ScorerError(f"scorer {spec!r}: {module_name!r} has no function {function_name!r}")
    return _checked(spec, function)


def _checked(spec: str, function: Callable[..., object]) -> Scorer:
    """`function` wrapped so that anything but a real number in [0, 1] is a ScorerError naming `spec`."""

    def scorer(expected: str, answer: str) -> float:
        try:
            value = function(expected, answer)
        except Exception as err:  # any failure of third-party code becomes one error that names it
            raise ScorerError(f"scorer {spec!r} raised {type(err).__name__}: {err}") from err
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise ScorerError(
                f"scorer {spec!r} returned {value!r} ({type(value).__name__}); a scorer must return a number in [0, 1]"
            )
        return float(value)

    return scorer


def resolve(metric: GateMetric, *, allowed: Sequence[str] | None = None, refuse_under: Path | None = None) -> Scorer:
    """The scorer of one gate metric: its custom `scorer` when it names one, else the built-in `name`."""
    if metric.scorer is not None:
        return load_scorer(metric.scorer, allowed=allowed, refuse_under=refuse_under)
    try:
        return BUILTINS[metric.name]
    except KeyError:
        raise ScorerError(f"unknown gate metric {metric.name!r}: use one of {', '.join(BUILTINS)}") from None


__all__ = [
    "BUILTINS",
    "ENV_ALLOWED",
    "Scorer",
    "ScorerError",
    "allowed_from_env",
    "exact_match",
    "is_allowed",
    "json_valid",
    "lcs_length",
    "load_scorer",
    "normalise",
    "resolve",
    "rouge_l",
    "tokens",
]
