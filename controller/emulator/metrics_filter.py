"""Parse and evaluate Cloud Monitoring filters for the emulated MetricService.

Part of the local emulator (controller/emulator). Supports the monitoring filter language as the
controller and Google's own dashboards use it:

    metric.type = "aiplatform.googleapis.com/prediction/online/prediction_count"
    AND resource.type = "aiplatform.googleapis.com/Endpoint"
    AND resource.label."endpoint_id" = "chat" metric.labels.deployed_model_id != "1"

Comparisons `=`, `!=` and `:` (has substring) against a string, a number or one of the functions
`starts_with`, `ends_with`, `has_substring`, `one_of` and `monitoring.regex.full_match`; `AND` (also implicit
by juxtaposition), `OR`, `NOT` / `-` and parentheses. Selectors: `metric.type`, `resource.type`, `project`,
`metric.label(s).KEY`, `resource.label(s).KEY` (KEY may be quoted). A time-series filter must name exactly
one metric type with a top-level `metric.type = "..."`, like the real API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from controller.emulator.api import ApiError

# A selector is ("metric.type" | "resource.type" | "project", "") or ("metric.label" | "resource.label", key).
Selector = tuple[str, str]
Lookup = Callable[[Selector], str | None]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|=|:|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_]\w*(?:\.(?:[A-Za-z_]\w*|"[^"]*"))*)
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<minus>-)
    )""",
    re.VERBOSE,
)
_FUNCTIONS = {"starts_with", "ends_with", "has_substring", "one_of", "monitoring.regex.full_match"}


@dataclass(frozen=True)
class Comparison:
    """`selector op value` where value is a literal or a function call (name, args)."""

    selector: Selector
    op: str
    function: str  # "" for a plain literal
    args: tuple[str, ...]

    def evaluate(self, lookup: Lookup) -> bool:
        """True when the series (seen through `lookup`) satisfies this comparison."""
        actual = lookup(self.selector)
        if self.op == "!=":
            return actual is None or not self._matches(actual)
        return actual is not None and self._matches(actual)

    def _matches(self, actual: str) -> bool:
        match self.function:
            case "":
                return self.args[0] in actual if self.op == ":" else actual == self.args[0]
            case "starts_with":
                return actual.startswith(self.args[0])
            case "ends_with":
                return actual.endswith(self.args[0])
            case "has_substring":
                return self.args[0] in actual
            case "one_of":
                return actual in self.args
            case _:  # monitoring.regex.full_match
                return re.fullmatch(self.args[0], actual) is not None


@dataclass(frozen=True)
class BoolOp:
    """`AND` / `OR` over operands, or `NOT` over one."""

    op: str  # "AND" | "OR" | "NOT"
    operands: tuple[Node, ...]

    def evaluate(self, lookup: Lookup) -> bool:
        """Boolean combination of the operands."""
        if self.op == "NOT":
            return not self.operands[0].evaluate(lookup)
        if self.op == "AND":
            return all(o.evaluate(lookup) for o in self.operands)
        return any(o.evaluate(lookup) for o in self.operands)


Node = Comparison | BoolOp


@dataclass(frozen=True)
class Filter:
    """A parsed filter: `root` is None for the empty filter."""

    text: str
    root: Node | None

    def matches(self, lookup: Lookup) -> bool:
        """True when the series or descriptor seen through `lookup` passes the filter."""
        return self.root is None or self.root.evaluate(lookup)

    def single_metric_type(self) -> str:
        """The one metric type a ListTimeSeries filter names; INVALID_ARGUMENT otherwise."""
        conjuncts = _conjuncts(self.root) if self.root is not None else []
        named = [
            c
            for c in conjuncts
            if isinstance(c, Comparison) and c.selector[0] == "metric.type" and c.op == "=" and not c.function
        ]
        total = _count_metric_type_terms(self.root)
        types = {c.args[0] for c in named}
        if len(types) != 1 or total != len(named):
            raise invalid_filter(
                self.text, 'a time series filter must name exactly one metric type: metric.type = "..."'
            )
        return types.pop()


def invalid_filter(text: str, why: str) -> ApiError:
    """The real API's shape of a bad-filter error."""
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"Field filter had an invalid value of {text!r}: {why}")


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, BoolOp) and node.op == "AND":
        return [c for o in node.operands for c in _conjuncts(o)]
    return [node]


def _count_metric_type_terms(node: Node | None) -> int:
    if node is None:
        return 0
    if isinstance(node, Comparison):
        return 1 if node.selector[0] == "metric.type" else 0
    return sum(_count_metric_type_terms(o) for o in node.operands)


def parse_filter(text: str) -> Filter:
    """Parse `text`; raises ApiError(INVALID_ARGUMENT) on a syntax error or an unknown selector."""
    parser = _Parser(text)
    if not parser.tokens:
        return Filter(text, None)
    root = parser.parse_or()
    if parser.pos != len(parser.tokens):
        raise invalid_filter(text, f"unexpected {parser.tokens[parser.pos][1]!r}")
    return Filter(text, root)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise invalid_filter(text, f"cannot parse at offset {pos}: {text[pos : pos + 20]!r}")
        kind, value = m.lastgroup, m.group(m.lastgroup)
        if kind == "string":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        elif kind == "number":
            kind = "string"
        tokens.append((kind, value))
        pos = m.end()
    return tokens


def parse_selector(text: str, word: str) -> Selector:
    """`metric.labels.x` / `resource.label."x"` / `metric.type` ... as a Selector; `text` is for errors."""
    if word in ("metric.type", "resource.type", "project"):
        return (word, "")
    m = re.fullmatch(r'(metric|resource)\.labels?\.(?:"([^"]+)"|([A-Za-z_][A-Za-z0-9_]*))', word)
    if m is None:
        raise invalid_filter(text, f"unsupported selector {word!r}")
    return (f"{m.group(1)}.label", m.group(2) or m.group(3))


class _Parser:
    """Recursive descent: or := and (OR and)*; and := unary ((AND)? unary)*; unary := NOT unary | atom."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, kind: str, value: str | None = None) -> str:
        tok = self._peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            found = "end of filter" if tok is None else repr(tok[1])
            raise invalid_filter(self.text, f"expected {value or kind}, found {found}")
        self.pos += 1
        return tok[1]

    def parse_or(self) -> Node:
        operands = [self._parse_and()]
        while self._peek() == ("word", "OR"):
            self.pos += 1
            operands.append(self._parse_and())
        return operands[0] if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def _parse_and(self) -> Node:
        operands = [self._parse_unary()]
        while (tok := self._peek()) is not None and tok not in (("word", "OR"), ("punct", ")")):
            if tok == ("word", "AND"):
                self.pos += 1
            operands.append(self._parse_unary())
        return operands[0] if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def _parse_unary(self) -> Node:
        tok = self._peek()
        if tok in (("word", "NOT"), ("minus", "-")):
            self.pos += 1
            return BoolOp("NOT", (self._parse_unary(),))
        if tok == ("punct", "("):
            self.pos += 1
            inner = self.parse_or()
            self._take("punct", ")")
            return inner
        return self._parse_comparison()

    def _parse_comparison(self) -> Node:
        selector = parse_selector(self.text, self._take("word"))
        op = self._take("op")
        if op not in ("=", "!=", ":"):
            raise invalid_filter(self.text, f"operator {op!r} is not supported on {selector[0]}")
        tok = self._peek()
        if tok is not None and tok[0] == "string":
            self.pos += 1
            return Comparison(selector, op, "", (tok[1],))
        function = self._take("word")
        if function not in _FUNCTIONS:
            raise invalid_filter(self.text, f"unknown function {function!r}")
        self._take("punct", "(")
        args = [self._take("string")]
        while self._peek() == ("punct", ","):
            self.pos += 1
            args.append(self._take("string"))
        self._take("punct", ")")
        if function != "one_of" and len(args) != 1:
            raise invalid_filter(self.text, f"{function} takes one argument")
        if function == "monitoring.regex.full_match":
            try:
                re.compile(args[0])
            except re.error as err:
                raise invalid_filter(self.text, f"bad regular expression {args[0]!r}: {err}") from None
        return Comparison(selector, op, function, tuple(args))
