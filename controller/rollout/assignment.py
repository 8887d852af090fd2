"""Sticky traffic assignment for prompt canaries and experiments, and the sample-ratio-mismatch check.

Pure: no I/O, no clock, no store, and no randomness except the source a caller injects for requests that
carry no routing key. Where it plugs in (issue 14, item 2; not wired yet): the runtime client, asked for
a prompt label that is under canary, calls `variant` with the rollout's salt and id, the routing key the
application passed (user or session id) and the candidate weight read with the prompt, and fetches the
version it names; experiments call `assign` with their fixed variant weights. The rollout machine runs
`srm` over the per-version request counts and pauses the rollout when the split is not the one it set.

Assignment: `bucket` hashes (salt, rollout id, routing key) with SHA-256 into one of 10,000 buckets
(never Python's `hash()`, which is salted per process). Weights are basis points (1% = 100). Variants own
contiguous bucket ranges in the order they are listed, so:
- the same key always gets the same variant at the same weights, in every process, with nothing stored;
- a canary's candidate owns buckets [0, weight): raising the weight only adds users to the candidate
  (a key on the candidate at 10% is on it at 20%), lowering it only removes users;
- with several variants, moving weight across one boundary (from a variant to the one listed next to
  it) moves users only between those two; so list the control last and the candidate being ramped just
  before it. An experiment's weights are fixed for its duration, so its users never move;
- different rollout ids (or salts) hash independently: being on one rollout's candidate says nothing
  about another's.
A request without a routing key (None or "") is assigned a bucket by the injected source, e.g.
`random.Random(seed).randrange` in tests or `secrets.randbelow` in the client: it is not sticky.

SRM: Pearson's chi-squared goodness-of-fit of the observed counts per variant against the weights; the
p-value is the chi-squared survival function, the regularized upper incomplete gamma function
Q(df/2, chi2/2) (series / continued fraction, Numerical Recipes 6.2). A mismatch is p < 0.001; it is
only called once every expected count reaches `min_expected` (the chi-squared approximation is not to be
trusted below that), except that any request seen on a zero-weight variant is a mismatch at once.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

BUCKETS: Final = 10_000
"""Buckets a key hashes into; weights are basis points of them (1% = 100)."""

SRM_ALPHA: Final = 0.001
"""A split whose chi-squared p-value is below this is a sample-ratio mismatch."""

MIN_EXPECTED: Final = 5.0
"""Smallest expected count per variant before the chi-squared approximation is trusted."""

Variant = Literal["stable", "candidate"]
RandomBelow = Callable[[int], int]
"""An injected random source: `rng(n)` returns an integer in [0, n) (`Random.randrange`, `secrets.randbelow`)."""


def percent_to_bp(percent: float) -> int:
    """A weight in percent (0..100, as rollout steps write it) in basis points, rounded to the nearest."""
    if not 0.0 <= percent <= 100.0 or math.isnan(percent):
        raise ValueError(f"weight must be within 0..100 percent, got {percent}")
    return round(percent * 100)


def _part(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(4, "big") + data  # length-prefixed: ("a:b", "c") never equals ("a", "b:c")


def bucket(salt: str, rollout_id: str, routing_key: str) -> int:
    """The key's bucket in [0, 10,000) for this rollout: SHA-256, stable across processes and versions."""
    digest = hashlib.sha256(b"genaiops.assign.v1" + _part(salt) + _part(rollout_id) + _part(routing_key))
    return int.from_bytes(digest.digest()[:8], "big") % BUCKETS  # bias 2**64 % 10**4 / 2**64: ~1e-16


def _bucket_for(salt: str, rollout_id: str, routing_key: str | None, rng: RandomBelow | None) -> int:
    if routing_key:
        return bucket(salt, rollout_id, routing_key)
    if rng is None:
        raise ValueError("a request without a routing key needs an injected random source (rng)")
    drawn = rng(BUCKETS)
    if not 0 <= drawn < BUCKETS:
        raise ValueError(f"rng({BUCKETS}) returned {drawn}, outside [0, {BUCKETS})")
    return drawn


def _check_bp(weight_bp: int, what: str) -> None:
    if isinstance(weight_bp, bool) or not isinstance(weight_bp, int) or not 0 <= weight_bp <= BUCKETS:
        raise ValueError(f"{what} must be an integer within 0..{BUCKETS} basis points, got {weight_bp!r}")


def variant(
    salt: str,
    rollout_id: str,
    routing_key: str | None,
    candidate_bp: int,
    *,
    rng: RandomBelow | None = None,
) -> Variant:
    """Which version a canary request gets: "candidate" when its bucket is below the candidate's weight
    (basis points; `percent_to_bp` converts a step's percent), otherwise "stable"."""
    _check_bp(candidate_bp, "candidate weight")
    return "candidate" if _bucket_for(salt, rollout_id, routing_key, rng) < candidate_bp else "stable"


def assign(
    salt: str,
    rollout_id: str,
    routing_key: str | None,
    weights: Sequence[tuple[str, int]],
    *,
    rng: RandomBelow | None = None,
) -> str:
    """Which variant an experiment request gets: `weights` lists (name, basis points) summing to 10,000;
    each variant owns the next contiguous range of buckets, in the order listed."""
    if not weights:
        raise ValueError("an assignment needs at least one variant")
    names = [name for name, _ in weights]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique, got {names}")
    for name, weight_bp in weights:
        _check_bp(weight_bp, f"weight of {name!r}")
    total = sum(weight_bp for _, weight_bp in weights)
    if total != BUCKETS:
        raise ValueError(f"variant weights must sum to {BUCKETS} basis points, got {total}")
    drawn = _bucket_for(salt, rollout_id, routing_key, rng)
    upper = 0
    for name, weight_bp in weights:
        upper += weight_bp
        if drawn < upper:
            return name
    raise AssertionError("unreachable: weights sum to BUCKETS")  # pragma: no cover


@dataclass(frozen=True)
class SrmResult:
    """A sample-ratio-mismatch check: the statistic, its p-value, and whether the split is wrong.

    `enough_data` is False while some expected count is below the minimum; `mismatch` is then False
    unless a zero-weight variant received requests (always wrong, whatever the sample size)."""

    chi2: float
    p_value: float
    mismatch: bool
    df: int
    enough_data: bool


def srm(
    observed_counts: Mapping[str, int],
    expected_weights: Mapping[str, float],
    *,
    alpha: float = SRM_ALPHA,
    min_expected: float = MIN_EXPECTED,
) -> SrmResult:
    """Chi-squared goodness-of-fit of requests per variant against the weights the rollout set (any
    positive scale: basis points, percent, fractions). Variants with no count are counted as 0."""
    unknown = set(observed_counts) - set(expected_weights)
    if unknown:
        raise ValueError(f"counts for variants without a weight: {sorted(unknown)}")
    for name, count in observed_counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count of {name!r} must be a non-negative integer, got {count!r}")
    for name, weight in expected_weights.items():
        if not weight >= 0 or math.isinf(weight):
            raise ValueError(f"weight of {name!r} must be finite and non-negative, got {weight!r}")
    total_weight = float(sum(expected_weights.values()))
    if total_weight <= 0:
        raise ValueError("at least one weight must be positive")
    total = sum(observed_counts.values())
    if any(observed_counts.get(name, 0) > 0 for name, w in expected_weights.items() if w == 0):
        return SrmResult(chi2=math.inf, p_value=0.0, mismatch=True, df=len(expected_weights) - 1, enough_data=True)
    cells = [(observed_counts.get(name, 0), total * w / total_weight) for name, w in expected_weights.items() if w > 0]
    df = len(cells) - 1
    if total == 0 or df == 0:
        return SrmResult(chi2=0.0, p_value=1.0, mismatch=False, df=df, enough_data=total > 0)
    chi2 = math.fsum((seen - expected) ** 2 / expected for seen, expected in cells)
    p_value = chi2_sf(chi2, df)
    enough = min(expected for _, expected in cells) >= min_expected
    return SrmResult(chi2=chi2, p_value=p_value, mismatch=enough and p_value < alpha, df=df, enough_data=enough)


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X chi-squared with `df` degrees of freedom: Q(df/2, x/2)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if math.isnan(x):
        raise ValueError("chi-squared statistic is NaN")
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    return gamma_q(df / 2.0, x / 2.0)


_EPS: Final = 1e-15
_TINY: Final = 1e-300
_MAX_ITER: Final = 10_000


def gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for a > 0, x >= 0."""
    if a <= 0:
        raise ValueError(f"a must be positive, got {a}")
    if x < 0:
        raise ValueError(f"x must be non-negative, got {x}")
    if x == 0:
        return 1.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _gamma_p_series(a, x))
    return _gamma_q_continued_fraction(a, x)


def _log_prefactor(a: float, x: float) -> float:
    return -x + a * math.log(x) - math.lgamma(a)


def _gamma_p_series(a: float, x: float) -> float:
    """P(a, x) by its power series; converges quickly for x < a + 1."""
    term = 1.0 / a
    total = term
    denominator = a
    for _ in range(_MAX_ITER):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(_log_prefactor(a, x))


def _gamma_q_continued_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction (modified Lentz); converges quickly for x >= a + 1."""
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return math.exp(_log_prefactor(a, x)) * h
