"""'Did you mean' for every name a manifest refers to: the nearest valid choice to a misspelt value.

Pure helpers shared by the model's own validators (regions, machine types, accelerators through
`model.catalogue`) and the loader's cross-manifest checks (Model, deployment and Prompt references), so a
typo anywhere gets the same kind of hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

DEFAULT_CUTOFF = 0.6  # difflib's similarity ratio below which a choice is not offered


def closest(word: str, choices: Iterable[str], *, cutoff: float = DEFAULT_CUTOFF) -> str | None:
    """The choice nearest to `word` (case-insensitive), or None when none is close enough."""
    by_folded: dict[str, str] = {}
    for choice in choices:
        by_folded.setdefault(choice.casefold(), choice)
    folded = word.casefold()
    if folded in by_folded:
        return by_folded[folded]
    hits = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=cutoff)
    return by_folded[hits[0]] if hits else None


def did_you_mean(word: str, choices: Iterable[str], *, cutoff: float = DEFAULT_CUTOFF) -> str:
    """`"; did you mean 'x'?"` for the nearest choice, or "" when nothing is close (or `word` is a choice)."""
    hit = closest(word, choices, cutoff=cutoff)
    return f"; did you mean {hit!r}?" if hit is not None and hit != word else ""


def join_or(items: Iterable[str], *, last: str = "or") -> str:
    """`a`, `a or b`, `a, b or c`: a list for a message."""
    words = list(items)
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"
