"""PII detection and redaction with regular expressions and checksums (no model, no network): fast
enough to run on every request before anything is logged, cached, labelled or (with
`spec.safety.redactInput`) sent to the model. Pure.

What is found, in this order (an earlier kind wins where two overlap):
- `EMAIL`: addresses such as ada.lovelace+work@example.co.uk (Unicode letters included);
- `IBAN`: two letters, two check digits and 11-30 letters or digits (spaces allowed), kept only when the
  ISO 7064 mod-97 check gives 1;
- `CARD`: 13-19 digits (spaces or dashes allowed), kept only when the Luhn check passes;
- `SSN`: US social security numbers `123-45-6789` / `123 45 6789` (area not 000, 666 or 9xx; group not 00;
  serial not 0000), and 9 bare digits right after the words SSN or social security;
- `NINO`: UK national insurance numbers such as `QQ 12 34 56 C`;
- `PHONE`: a `+` and 8-15 digits, or 7-15 digits in groups split by spaces, dots, dashes or parentheses,
  or 10-11 bare digits; dates, times, dotted IPv4 addresses and decimals are not phones.
Each finding is replaced by `[KIND]`. Numbers that fail their checksum stay (an order number is not a
card), which keeps false positives low where a checksum exists.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("EMAIL", "IBAN", "CARD", "SSN", "NINO", "PHONE")

_EMAIL = re.compile(r"(?<![\w.+%-])\w[\w.%+-]*@\w(?:[\w-]*\w)?(?:\.[\w-]+)*\.[^\W\d_]{2,24}\b")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}")
# digit groups of 3+ split by one space or dash (4-4-4-4, 4-6-5, compact); windows of them are checked
_CARD = re.compile(r"(?<![\d.,])\d{3,19}(?:[ -]\d{3,19})*(?!\d)")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_SSN_BARE = re.compile(
    r"(?i)(?P<lead>\b(?:ssn|social security(?: number| no\.?)?)\W{0,3})"
    r"(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}(?!\d)"
)
_NINO = re.compile(
    r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
# groups split by exactly one separator, so a digit run is never split two ways (no backtracking blow-up)
_PHONE = re.compile(
    r"(?<![\w+.,/:-])"
    r"(?:\+\d{8,15}|\d{10,11}|(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,8}(?:[ .-]\d{2,8}){0,6})"
    r"(?!\w)"
)
_NOT_PHONE = (
    re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$"),  # 2026-12-02
    re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$"),  # 02.12.2026
    re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"),  # IPv4
    re.compile(r"^\d+\.\d+$"),  # a decimal
    re.compile(r"^\d{5}-\d{4}$"),  # a US ZIP+4 code
)
_SEPARATED = re.compile(r"[ .()-]")
_DIGIT = re.compile(r"\d")
_DIGITS = re.compile(r"\d+")
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # Luhn: a doubled digit, with its two digits summed


@dataclass(frozen=True)
class Redaction:
    """Redacted text and how many of each kind were replaced."""

    text: str
    found: Mapping[str, int]

    @property
    def count(self) -> int:
        """Findings in all."""
        return sum(self.found.values())

    def summary(self) -> str:
        """`EMAIL x1, PHONE x2`: kinds and counts, never the values."""
        return ", ".join(f"{kind} x{n}" for kind, n in sorted(self.found.items()))


def luhn_ok(digits: str) -> bool:
    """The Luhn check of a card number (digits only)."""
    total = sum(map(int, digits[-1::-2])) + sum(_DOUBLED[int(c)] for c in digits[-2::-2])
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """The ISO 13616 check of an IBAN: country code and check digits moved to the end, letters to
    numbers (A=10 ... Z=35), the result mod 97 is 1."""
    compact = text.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


Replaced = tuple[str, int]  # the replacement text and how many findings it holds


def _cards(text: str) -> Replaced:
    """Every card in a run of digit groups, left to right: from each group, the longest window of whole
    groups with 13-19 digits that passes Luhn is replaced (`ref 12 4111 1111 1111 1111 exp 2029`)."""
    spans = [m.span() for m in _DIGITS.finditer(text)]
    out: list[str] = []
    found, done, i = 0, 0, 0
    while i < len(spans):
        total, best = 0, None
        for j in range(i, len(spans)):
            total += spans[j][1] - spans[j][0]
            if total > 19:
                break
            if total >= 13 and luhn_ok("".join(text[a:b] for a, b in spans[i : j + 1])):
                best = j
        if best is None:
            i += 1
            continue
        out += [text[done : spans[i][0]], "[CARD]"]
        done, found, i = spans[best][1], found + 1, best + 1
    out.append(text[done:])
    return "".join(out), found


def _card(match: re.Match[str]) -> Replaced | None:
    replaced = _cards(match.group(0))
    return replaced if replaced[1] else None


def _iban(match: re.Match[str]) -> Replaced | None:
    """The longest prefix of the match that is a valid IBAN (words may follow one without a space)."""
    text = match.group(0)
    for end in range(len(text), 14, -1):
        if text[end - 1] != " " and iban_ok(text[:end]):
            return "[IBAN]" + text[end:], 1
    return None


def _phone(match: re.Match[str]) -> Replaced | None:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if not 7 <= digits <= 15 or any(p.match(text) for p in _NOT_PHONE):
        return None
    if text.startswith("+"):
        return ("[PHONE]", 1) if digits >= 8 else None
    groups = len([g for g in _SEPARATED.split(text) if g])
    if "(" in text or groups >= 2 or 10 <= digits <= 11:
        return "[PHONE]", 1
    return None


def _fixed(token: str) -> Callable[[re.Match[str]], Replaced]:
    return lambda match: (token, 1)


def _ssn_bare(match: re.Match[str]) -> Replaced:
    return match.group("lead") + "[SSN]", 1


_Rule = tuple[str, re.Pattern[str], Callable[[re.Match[str]], Replaced | None]]
_RULES: tuple[_Rule, ...] = (
    ("EMAIL", _EMAIL, _fixed("[EMAIL]")),
    ("IBAN", _IBAN, _iban),
    ("CARD", _CARD, _card),
    ("SSN", _SSN, _fixed("[SSN]")),
    ("SSN", _SSN_BARE, _ssn_bare),
    ("NINO", _NINO, _fixed("[NINO]")),
    ("PHONE", _PHONE, _phone),
)


def redact(text: str) -> Redaction:
    """`text` with every finding replaced by `[KIND]`."""
    found: Counter[str] = Counter()
    if not text:
        return Redaction(text, {})
    has_digit = _DIGIT.search(text) is not None
    for kind, pattern, replace in _RULES:
        if kind != "EMAIL" and not has_digit:
            continue  # every other kind has digits: skip the scans for digit-free text (most prose)
        if kind == "EMAIL" and "@" not in text:
            continue

        def substitute(
            match: re.Match[str], kind: str = kind, replace: Callable[..., Replaced | None] = replace
        ) -> str:
            replaced = replace(match)
            if replaced is None:
                return match.group(0)
            found[kind] += replaced[1]
            return replaced[0]

        text = pattern.sub(substitute, text)
    return Redaction(text, dict(found))


def redact_text(text: str) -> str:
    """Just the redacted text."""
    return redact(text).text


def redact_value(value: Any) -> Any:
    """A JSON-like value with every string in it redacted (for logging variables)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {str(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def preview(text: str, limit: int) -> str:
    """The first `limit` characters of `text` after redaction (redacted first, so a value cut by the
    limit cannot slip through half-shown; only a window a little past the limit is scanned)."""
    if limit <= 0:
        return ""
    window = redact_text(text[: limit + 256])
    return window if len(window) <= limit and len(text) <= limit + 256 else window[:limit] + "..."
