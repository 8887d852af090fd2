"""PII detection and redaction with regular expressions and checksums (no model, no network): fast
enough to run on every request before anything is logged, cached, labelled or (with
`spec.safety.redactInput`) sent to the model. Pure.

What is found, in this order (an earlier kind wins where two overlap):
- `EMAIL`: addresses such as ada.lovelace+work@example.co.uk;
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

_EMAIL = re.compile(
    r"(?<![\w.+%-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b"
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}")
_CARD = re.compile(r"(?<![\d.,])\d(?:[ -]?\d){12,18}(?![\d])")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_SSN_BARE = re.compile(
    r"(?i)(?P<lead>\b(?:ssn|social security(?: number| no\.?)?)\W{0,3})"
    r"(?!000|666|9\d\d)\d{3}(?!00)\d{2}(?!0000)\d{4}(?!\d)"
)
_NINO = re.compile(
    r"(?<![A-Za-z0-9])(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
    r" ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
_PHONE = re.compile(r"(?<![\w+.,/:-])(?:\+\s?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\(?\d{1,5}\)?){0,6}(?![\w])")
_NOT_PHONE = (
    re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$"),  # 2026-12-02
    re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$"),  # 02.12.2026
    re.compile(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$"),  # IPv4
    re.compile(r"^\d+\.\d+$"),  # a decimal
    re.compile(r"^\d{5}-\d{4}$"),  # a US ZIP+4 code
)
_SEPARATED = re.compile(r"[ .()-]")


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
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
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


def _card(match: re.Match[str]) -> str | None:
    """The longest run of whole digit groups with 13-19 digits that passes Luhn (a card may sit between
    other numbers: `ref 12 4111 1111 1111 1111 exp 2029`)."""
    text = match.group(0)
    groups = [(m.start(), m.end()) for m in re.finditer(r"\d+", text)]
    windows = sorted(
        ((i, j) for i in range(len(groups)) for j in range(i, len(groups))),
        key=lambda w: groups[w[0]][0] - groups[w[1]][1],
    )
    for i, j in windows:
        start, end = groups[i][0], groups[j][1]
        digits = re.sub(r"\D", "", text[start:end])
        if 13 <= len(digits) <= 19 and luhn_ok(digits):
            return f"{text[:start]}[CARD]{text[end:]}"
    return None


def _iban(match: re.Match[str]) -> str | None:
    """The longest prefix of the match that is a valid IBAN (words may follow one without a space)."""
    text = match.group(0)
    for end in range(len(text), 14, -1):
        if text[end - 1] != " " and iban_ok(text[:end]):
            return "[IBAN]" + text[end:]
    return None


def _phone(match: re.Match[str]) -> str | None:
    text = match.group(0).strip()
    digits = sum(c.isdigit() for c in text)
    if any(p.match(text) for p in _NOT_PHONE):
        return None
    if text.startswith("+"):
        return "[PHONE]" if 8 <= digits <= 15 else None
    groups = len([g for g in _SEPARATED.split(text) if g])
    if ("(" in text or groups >= 2) and 7 <= digits <= 15:
        return "[PHONE]"
    return "[PHONE]" if groups == 1 and 10 <= digits <= 11 else None


def _ssn_bare(match: re.Match[str]) -> str:
    return match.group("lead") + "[SSN]"


_Rule = tuple[str, re.Pattern[str], Callable[[re.Match[str]], str | None]]
_RULES: tuple[_Rule, ...] = (
    ("EMAIL", _EMAIL, lambda m: "[EMAIL]"),
    ("IBAN", _IBAN, _iban),
    ("CARD", _CARD, _card),
    ("SSN", _SSN, lambda m: "[SSN]"),
    ("SSN", _SSN_BARE, _ssn_bare),
    ("NINO", _NINO, lambda m: "[NINO]"),
    ("PHONE", _PHONE, _phone),
)


def redact(text: str) -> Redaction:
    """`text` with every finding replaced by `[KIND]`."""
    found: Counter[str] = Counter()
    if not text:
        return Redaction(text, {})
    has_digit = any(c.isdigit() for c in text)
    for kind, pattern, replace in _RULES:
        if kind != "EMAIL" and not has_digit:
            continue  # every other kind has digits: skip the scans for digit-free text (most prose)
        if kind == "EMAIL" and "@" not in text:
            continue

        def substitute(match: re.Match[str], kind: str = kind, replace: Callable[..., str | None] = replace) -> str:
            replaced = replace(match)
            if replaced is None:
                return match.group(0)
            found[kind] += 1
            return replaced

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
