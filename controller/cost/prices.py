"""The bundled, dated price table (`prices.yaml`) and its lookups: node-hours, accelerator-hours, Gemini
tokens and tuning tokens, each answered as a `Price` that carries its source and date.

Beside the model layer, pure: it reads its own package data once and never the network. A project's
`PriceBook` manifest overrides rows (`PriceTable.with_book`); a book's row wins over the table's. A price
no source gave is not in the table (the lookup answers None), never guessed. How a node-hour is found
(Vertex AI's own listed price where a copy of its prediction table gives one, else Compute Engine price x
the Vertex AI factor; a region multiplier where the source lacks a region) is described at the top of
`prices.yaml`; every Price says where it came from in its `source`, and an unconfirmed one says so.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import yaml

from controller.model.price_book import PriceBook, PriceRow

PRICES_FILE = "prices.yaml"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_VERSION_SUFFIX = re.compile(r"-\d{3}$")
TokenKind = Literal["input", "output", "cached"]
_TOKEN_UNITS: dict[str, str] = {
    "input": "1M input tokens",
    "output": "1M output tokens",
    "cached": "1M cached input tokens",
}
_BOOK_TOKEN_KINDS: dict[str, TokenKind] = {
    "input-tokens": "input",
    "output-tokens": "output",
    "cached-tokens": "cached",
}


class PriceTableError(ValueError):
    """The price table is malformed: a row without a source or a date, a negative price (a packaging bug)."""


@dataclass(frozen=True)
class Price:
    """One price: USD per `unit`, where it comes from and the date of that source."""

    usd: float  # per unit
    unit: str  # "node-hour", "accelerator-hour", "1M input tokens", "1M output tokens", ...
    source: str
    as_of: str  # YYYY-MM-DD
    confirmed: bool = True


@dataclass(frozen=True)
class TokenTier:
    """A model's token prices (USD per 1M) for prompts up to `up_to_prompt_tokens` (None: no bound)."""

    input: float
    output: float
    cached_input: float | None
    up_to_prompt_tokens: int | None


@dataclass(frozen=True)
class TokenPrices:
    """A model's tiers, shortest prompts first, and where they come from."""

    tiers: tuple[TokenTier, ...]
    source: str
    as_of: str
    confirmed: bool

    def tier_for(self, prompt_tokens: int) -> TokenTier:
        """The tier a prompt of this many tokens is billed at (the whole request at one tier)."""
        for tier in self.tiers:
            if tier.up_to_prompt_tokens is None or prompt_tokens <= tier.up_to_prompt_tokens:
                return tier
        return self.tiers[-1]


@dataclass(frozen=True)
class ListedPrices:
    """Prices read as they are listed (no factor applied), USD per unit by name and region, from one source."""

    by_name: Mapping[str, Mapping[str, float]]
    source: str
    as_of: str
    confirmed: bool


NO_LISTED_PRICES = ListedPrices({}, "", "", False)


def _in_region(
    name: str, by_region: Mapping[str, float], region: str, multipliers: Mapping[str, float]
) -> tuple[float, str] | None:
    """The price of `name` in `region` and where it is from: the source's price there, else its price in the
    first region it has scaled by the region multipliers; None when neither is possible."""
    if not by_region or (region not in multipliers and region not in by_region):
        return None
    if region in by_region:
        return by_region[region], f"{name} in {region}"
    first = next(iter(by_region))
    if first not in multipliers:
        return None
    scale = multipliers[region] / multipliers[first]
    return by_region[first] * scale, f"{name} in {first} x region multiplier {scale:.6f} ({region})"


@dataclass(frozen=True)
class NodeHours:
    """Compute Engine prices by machine type and region, and the rule that turns them into Vertex AI's; and
    the machine types whose Vertex AI price is listed as such (`listed`, used first, no factor applied)."""

    machine_types: Mapping[str, Mapping[str, float]]
    region_multipliers: Mapping[str, float]
    vertex_factor: float
    factor_as_of: str
    source: str
    as_of: str
    factor_source: str
    confirmed: bool
    listed: ListedPrices = NO_LISTED_PRICES


def model_key(model: str) -> str:
    """The table's name for a model: `publishers/google/models/gemini-3.5-flash@x` -> `gemini-3.5-flash`."""
    name = model.rsplit("/models/", 1)[-1] if "/models/" in model else model
    return name.split(";", 1)[0].split("@", 1)[0]


@dataclass(frozen=True)
class PriceTable:
    """The bundled prices, and the overrides of a PriceBook on top (`overrides` win)."""

    as_of: str  # the table's date
    node_hours: NodeHours
    included_accelerators: Mapping[str, Price]  # accelerator -> its 0 USD price, naming the node-hour source
    token_models: Mapping[str, TokenPrices]
    tuning: Mapping[str, Price]
    accelerator_prices: ListedPrices = NO_LISTED_PRICES  # per accelerator-hour, as listed by Vertex AI
    overrides: Mapping[tuple[str, str, str | None], Price] = field(default_factory=dict)

    def _override(self, kind: str, name: str, region: str | None = None) -> Price | None:
        return self.overrides.get((kind, name, region)) or self.overrides.get((kind, name, None))

    def node_hour(self, *, region: str, machine_type: str) -> Price | None:
        """The Vertex AI prediction price of one node of `machine_type` in `region` for an hour."""
        book = self._override("node-hour", machine_type, region)
        if book is not None:
            return book
        nodes = self.node_hours
        listed = nodes.listed
        found = _in_region(machine_type, listed.by_name.get(machine_type, {}), region, nodes.region_multipliers)
        if found is not None:
            usd, how = found
            source = f"Vertex AI prediction price of {how}, as listed ({listed.source}); no factor applied"
            return Price(round(usd, 9), "node-hour", source, listed.as_of, listed.confirmed)
        found = _in_region(machine_type, nodes.machine_types.get(machine_type, {}), region, nodes.region_multipliers)
        if found is None:
            return None
        usd, how = found
        source = (
            f"Compute Engine {how} ({nodes.source}) x Vertex AI factor {nodes.vertex_factor} ({nodes.factor_source}); "
            "derived, not read from the Vertex AI prediction table"
        )
        return Price(round(usd * nodes.vertex_factor, 9), "node-hour", source, nodes.as_of, nodes.confirmed)

    def accelerator_hour(self, *, region: str, accelerator: str) -> Price | None:
        """The price of one accelerator for an hour in `region` (0 when its machine type's node-hour
        already includes it); None when no source prices it."""
        book = self._override("accelerator-hour", accelerator, region)
        if book is not None:
            return book
        multipliers = self.node_hours.region_multipliers
        included = self.included_accelerators.get(accelerator)
        if included is not None:
            return included if region in multipliers else None
        listed = self.accelerator_prices
        found = _in_region(accelerator, listed.by_name.get(accelerator, {}), region, multipliers)
        if found is None:
            return None
        usd, how = found
        source = f"Vertex AI prediction price of {how}, as listed ({listed.source}); no factor applied"
        return Price(round(usd, 9), "accelerator-hour", source, listed.as_of, listed.confirmed)

    def tokens(self, *, model: str, kind: TokenKind, prompt_tokens: int = 0) -> Price | None:
        """The price of 1M tokens of `kind` on `model` for a prompt of `prompt_tokens` (its context tier).
        Cached tokens without a cached price are billed at the input price (never under-reported)."""
        names = (model, model_key(model), _VERSION_SUFFIX.sub("", model_key(model)))
        for name in names:
            book = self._override(f"{kind}-tokens", name)
            if book is not None:
                return book
        prices = next((self.token_models[n] for n in names if n in self.token_models), None)
        if prices is None:
            return None
        tier = prices.tier_for(prompt_tokens)
        usd = {"input": tier.input, "output": tier.output, "cached": tier.cached_input}[kind]
        source = prices.source
        if usd is None:
            usd = tier.input
            source += "; no cached price known: billed at the input price"
        if len(prices.tiers) > 1:
            below = [t.up_to_prompt_tokens for t in prices.tiers if t.up_to_prompt_tokens is not None]
            bound = f"<= {tier.up_to_prompt_tokens:,}" if tier.up_to_prompt_tokens else f"> {max(below):,}"
            source += f" (prompts {bound} tokens)"
        return Price(usd, _TOKEN_UNITS[kind], source, prices.as_of, prices.confirmed)

    def tuning_tokens(self, *, base_model: str) -> Price | None:
        """The supervised tuning price of 1M training tokens (dataset tokens x epochs) on `base_model`."""
        names = (base_model, model_key(base_model), _VERSION_SUFFIX.sub("", model_key(base_model)))
        for name in names:
            price = self._override("tuning-tokens", name) or self.tuning.get(name)
            if price is not None:
                return price
        return None

    def describe(self) -> str:
        """One line naming the table's date, for every view that prints a cost."""
        books = sorted({p.source.split(":", 1)[0] for p in self.overrides.values()})
        extra = f", overridden by {', '.join(books)}" if books else ""
        return f"prices: genaiops bundled table of {self.as_of} (USD){extra}"

    def with_book(self, book: PriceBook) -> PriceTable:
        """This table with `book`'s rows on top (a book's price wins over the table's)."""
        merged = dict(self.overrides)
        for row in book.spec.prices:
            merged[row.key] = _book_price(row, book.metadata.name)
        return PriceTable(
            self.as_of,
            self.node_hours,
            self.included_accelerators,
            self.token_models,
            self.tuning,
            self.accelerator_prices,
            merged,
        )


def _book_price(row: PriceRow, book: str) -> Price:
    units = {"node-hour": "node-hour", "accelerator-hour": "accelerator-hour", "tuning-tokens": "1M training tokens"}
    unit = units.get(row.kind) or _TOKEN_UNITS[_BOOK_TOKEN_KINDS[row.kind]]
    source = f"PriceBook {book}" + (f": {row.source}" if row.source else "")
    return Price(row.usd, unit, source, row.as_of.isoformat(), True)


# --- Loading ------------------------------------------------------------------------------------------------


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PriceTableError(f"{where} must be a mapping")
    return value


def _date(value: Any, where: str) -> str:
    text = str(value) if value is not None else ""
    if not _DATE.match(text):
        raise PriceTableError(f"{where}.asOf must be a date YYYY-MM-DD (got {value!r})")
    return text


def _usd(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PriceTableError(f"{where} must be a number >= 0 (got {value!r})")
    return float(value)


def _source(row: Mapping[str, Any], where: str, sources: Mapping[str, str]) -> str:
    """The row's source: a key of `sources` (expanded) or the text itself; a row without one is refused."""
    key = row.get("source")
    if not isinstance(key, str) or not key.strip():
        raise PriceTableError(f"{where} has no source: every price names where it comes from")
    return f"{key}: {sources[key]}" if key in sources else key


def _listed(data: Any, where: str, sources: Mapping[str, str]) -> ListedPrices:
    """A `listed` block: {source, asOf, confirmed, prices: {name: {region: usd}}}; absent: no listed prices."""
    if data is None:
        return NO_LISTED_PRICES
    block = _mapping(data, where)
    prices: dict[str, dict[str, float]] = {}
    for name, by_region in _mapping(block.get("prices"), f"{where}.prices").items():
        prices[str(name)] = {
            str(r): _usd(v, f"{where}.prices.{name}.{r}")
            for r, v in _mapping(by_region, f"{where}.prices.{name}").items()
        }
    return ListedPrices(
        prices, _source(block, where, sources), _date(block.get("asOf"), where), bool(block.get("confirmed", False))
    )


def _node_hours(data: Mapping[str, Any], sources: Mapping[str, str]) -> NodeHours:
    where = "nodeHours"
    factor = _mapping(data.get("vertexFactor"), f"{where}.vertexFactor")
    machines: dict[str, dict[str, float]] = {}
    for name, by_region in _mapping(data.get("machineTypes"), f"{where}.machineTypes").items():
        machines[str(name)] = {
            str(r): _usd(v, f"{where}.machineTypes.{name}.{r}")
            for r, v in _mapping(by_region, f"{where}.machineTypes.{name}").items()
        }
    multipliers = {
        str(r): _usd(v, f"{where}.regionMultipliers.{r}")
        for r, v in _mapping(data.get("regionMultipliers"), f"{where}.regionMultipliers").items()
    }
    return NodeHours(
        machine_types=machines,
        region_multipliers=multipliers,
        vertex_factor=_usd(factor.get("value"), f"{where}.vertexFactor.value"),
        factor_as_of=_date(factor.get("asOf"), f"{where}.vertexFactor"),
        source=_source(data, where, sources),
        as_of=_date(data.get("asOf"), where),
        factor_source=_source(factor, f"{where}.vertexFactor", sources),
        confirmed=bool(data.get("confirmed", False)),
        listed=_listed(data.get("listed"), f"{where}.listed", sources),
    )


def _token_prices(name: str, row: Mapping[str, Any], sources: Mapping[str, str]) -> TokenPrices:
    where = f"tokens.models.{name}"
    raw = row.get("tiers")
    if not isinstance(raw, list) or not raw:
        raise PriceTableError(f"{where}.tiers must be a non-empty list")
    tiers: list[TokenTier] = []
    for i, tier in enumerate(raw):
        t = _mapping(tier, f"{where}.tiers[{i}]")
        cached, bound = t.get("cachedInput"), t.get("upToPromptTokens")
        tiers.append(
            TokenTier(
                input=_usd(t.get("input"), f"{where}.tiers[{i}].input"),
                output=_usd(t.get("output"), f"{where}.tiers[{i}].output"),
                cached_input=None if cached is None else _usd(cached, f"{where}.tiers[{i}].cachedInput"),
                up_to_prompt_tokens=None if bound is None else int(bound),
            )
        )
    if any(t.up_to_prompt_tokens is None for t in tiers[:-1]):
        raise PriceTableError(f"{where}: only the last tier may leave out upToPromptTokens")
    source = _source(row, where, sources)
    extra = [str(s) for s in row.get("sources") or []]
    if extra:
        source += " [" + "; ".join(extra) + "]"
    return TokenPrices(tuple(tiers), source, _date(row.get("asOf"), where), bool(row.get("confirmed", True)))


def parse(document: Any) -> PriceTable:
    """A PriceTable from the loaded YAML document; PriceTableError names the first malformed row."""
    top = _mapping(document, "the price table")
    sources: dict[str, str] = {}
    for key, spec in _mapping(top.get("sources"), "sources").items():
        s = _mapping(spec, f"sources.{key}")
        if not s.get("ref"):
            raise PriceTableError(f"sources.{key} has no ref")
        sources[str(key)] = f"{str(s['ref']).strip()} ({_date(s.get('asOf'), f'sources.{key}')})"
    node_hours = _node_hours(_mapping(top.get("nodeHours"), "nodeHours"), sources)
    accelerators = _mapping(top.get("accelerators"), "accelerators")
    included: dict[str, Price] = {}
    for name, spec in _mapping(accelerators.get("includedInNodeHour", {}), "accelerators").items():
        where = f"accelerators.includedInNodeHour.{name}"
        row = _mapping(spec, where)
        included[str(name)] = Price(
            0.0,
            "accelerator-hour",
            f"included in the node-hour of {row.get('machineTypes')} ({_source(row, where, sources)})",
            _date(row.get("asOf"), where),
            bool(row.get("confirmed", False)),
        )
    tokens = _mapping(top.get("tokens"), "tokens")
    models = {
        str(name): _token_prices(str(name), _mapping(row, f"tokens.models.{name}"), sources)
        for name, row in _mapping(tokens.get("models"), "tokens.models").items()
    }
    tuning: dict[str, Price] = {}
    for name, spec in _mapping(_mapping(top.get("tuning"), "tuning").get("baseModels") or {}, "tuning").items():
        where = f"tuning.baseModels.{name}"
        row = _mapping(spec, where)
        tuning[str(name)] = Price(
            _usd(row.get("usd"), f"{where}.usd"),
            "1M training tokens",
            _source(row, where, sources),
            _date(row.get("asOf"), where),
            bool(row.get("confirmed", True)),
        )
    listed = _listed(accelerators.get("listed"), "accelerators.listed", sources)
    return PriceTable(_date(top.get("asOf"), "the table"), node_hours, included, models, tuning, listed)


def unpriced(document: Any) -> dict[str, dict[str, str]]:
    """What the table says it cannot price, and why: {"machineTypes"|"accelerators"|"tuning": {name: why}}."""
    top = _mapping(document, "the price table")
    return {
        "machineTypes": {str(k): str(v) for k, v in (top["nodeHours"].get("unpriced") or {}).items()},
        "accelerators": {str(k): str(v) for k, v in (top["accelerators"].get("unpriced") or {}).items()},
        "tuning": {str(k): str(v) for k, v in (top["tuning"].get("unpriced") or {}).items()},
    }


def prices_text() -> str:
    """The bundled table's text."""
    return resources.files("controller.cost").joinpath(PRICES_FILE).read_text(encoding="utf-8")


@functools.cache
def bundled() -> PriceTable:
    """The table shipped with genaiops (read once per process)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the 150 KB table loads ~10x faster
    return parse(yaml.load(prices_text(), Loader=loader))
