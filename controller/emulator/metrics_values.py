"""Point values of the emulated Cloud Monitoring store: numbers, booleans and distributions.

Part of the local emulator (controller/emulator). The metric store (`metrics.py`) accumulates raw points
whose values are `int` (a `bool` for BOOL metrics), `float` or `Dist`; the query engine (`metrics_query.py`)
aligns and reduces them; this module also reads user-written `google.api.Distribution` messages
(exponential, linear or explicit buckets, checked as the API checks them) and turns values back into the
`Distribution` / `TypedValue` messages the real Cloud Monitoring API returns. Percentiles are computed the
way Cloud Monitoring does it: find the bucket that holds the rank in the cumulative counts and interpolate
linearly inside it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Protocol

from google.api import distribution_pb2


@dataclass(frozen=True)
class ExponentialBuckets:
    """Bucket layout of `google.api.Distribution.BucketOptions.Exponential`.

    Bucket 0 is the underflow bucket (-inf, scale); bucket i in 1..N is
    [scale * g^(i-1), scale * g^i); bucket N+1 is the overflow bucket [scale * g^N, +inf).
    """

    num_finite_buckets: int
    growth_factor: float
    scale: float

    @property
    def size(self) -> int:
        """Number of buckets including underflow and overflow."""
        return self.num_finite_buckets + 2

    def upper(self, i: int) -> float:
        """Upper bound of bucket `i` (+inf for the overflow bucket)."""
        if i > self.num_finite_buckets:
            return math.inf
        return self.scale * self.growth_factor**i

    def lower(self, i: int) -> float:
        """Lower bound of bucket `i` (-inf for the underflow bucket)."""
        if i <= 0:
            return -math.inf
        return self.scale * self.growth_factor ** (i - 1)

    def index(self, x: float) -> int:
        """The bucket that holds `x`."""
        if x < self.scale:
            return 0
        i = int(math.log(x / self.scale) / math.log(self.growth_factor)) + 1
        i = min(max(i, 1), self.num_finite_buckets + 1)
        # Correct floating-point error at the bucket boundaries.
        while i > 1 and x < self.lower(i):
            i -= 1
        while i <= self.num_finite_buckets and x >= self.upper(i):
            i += 1
        return i


@dataclass(frozen=True)
class LinearBuckets:
    """`BucketOptions.Linear`: bucket i in 1..N is [offset + width*(i-1), offset + width*i)."""

    num_finite_buckets: int
    width: float
    offset: float

    @property
    def size(self) -> int:
        """Number of buckets including underflow and overflow."""
        return self.num_finite_buckets + 2

    def upper(self, i: int) -> float:
        """Upper bound of bucket `i` (+inf for the overflow bucket)."""
        return math.inf if i > self.num_finite_buckets else self.offset + self.width * i

    def lower(self, i: int) -> float:
        """Lower bound of bucket `i` (-inf for the underflow bucket)."""
        return -math.inf if i <= 0 else self.offset + self.width * (i - 1)

    def index(self, x: float) -> int:
        """The bucket that holds `x`."""
        if x < self.offset:
            return 0
        return min(int((x - self.offset) // self.width) + 1, self.num_finite_buckets + 1)


@dataclass(frozen=True)
class ExplicitBuckets:
    """`BucketOptions.Explicit`: bucket i in 1..N-1 is [bounds[i-1], bounds[i]); N = len(bounds)."""

    bounds: tuple[float, ...]

    @property
    def size(self) -> int:
        """Number of buckets including underflow and overflow."""
        return len(self.bounds) + 1

    def upper(self, i: int) -> float:
        """Upper bound of bucket `i` (+inf for the overflow bucket)."""
        return math.inf if i >= len(self.bounds) else self.bounds[i]

    def lower(self, i: int) -> float:
        """Lower bound of bucket `i` (-inf for the underflow bucket)."""
        return -math.inf if i <= 0 else self.bounds[i - 1]

    def index(self, x: float) -> int:
        """The bucket that holds `x`."""
        return sum(1 for bound in self.bounds if x >= bound)


class Buckets(Protocol):
    """A bucket layout: buckets 0 (underflow) to size - 1 (overflow)."""

    @property
    def size(self) -> int: ...

    def upper(self, i: int) -> float: ...

    def lower(self, i: int) -> float: ...

    def index(self, x: float) -> int: ...


MAX_BUCKETS = 200  # histogram buckets per custom distribution metric (Cloud Monitoring quotas page)


# Vertex AI does not document the bucket layout of prediction_latencies; these exponential buckets
# (1 ms to ~4.5e9 ms, 40% wide) resemble Google's serving-latency distributions.
LATENCY_BUCKETS = ExponentialBuckets(num_finite_buckets=66, growth_factor=1.4, scale=1.0)


class Dist:
    """A mutable distribution accumulator: count, mean, sum of squared deviation and bucket counts."""

    __slots__ = ("buckets", "count", "counts", "m2", "mean")

    def __init__(self, buckets: Buckets = LATENCY_BUCKETS) -> None:
        self.buckets = buckets
        self.counts = [0] * buckets.size
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0  # sum of squared deviation from the mean

    def add(self, x: float) -> None:
        """Add one sample (Welford's update)."""
        self.count += 1
        delta = x - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (x - self.mean)
        self.counts[self.buckets.index(x)] += 1

    def merge(self, other: Dist) -> None:
        """Fold `other` into this distribution (Chan's parallel update)."""
        if other.buckets != self.buckets:
            raise ValueError("cannot merge distributions with different bucket options")
        if other.count == 0:
            return
        total = self.count + other.count
        delta = other.mean - self.mean
        self.m2 += other.m2 + delta * delta * self.count * other.count / total
        self.mean += delta * other.count / total
        self.count = total
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]

    def copy(self) -> Dist:
        """An independent copy."""
        out = Dist(self.buckets)
        out.counts = list(self.counts)
        out.count, out.mean, out.m2 = self.count, self.mean, self.m2
        return out

    def minus(self, earlier: Dist) -> Dist | None:
        """The samples added since `earlier` (a previous point of a CUMULATIVE series), or None when this
        cannot be its continuation (other buckets, or fewer samples in a bucket: the series was reset)."""
        if earlier.buckets != self.buckets or any(b > a for a, b in zip(self.counts, earlier.counts, strict=True)):
            return None
        out = Dist(self.buckets)
        out.counts = [a - b for a, b in zip(self.counts, earlier.counts, strict=True)]
        out.count = self.count - earlier.count
        if out.count <= 0:
            return out
        out.mean = (self.mean * self.count - earlier.mean * earlier.count) / out.count
        delta = out.mean - earlier.mean
        out.m2 = max(0.0, self.m2 - earlier.m2 - delta * delta * earlier.count * out.count / self.count)
        return out

    def percentile(self, q: float) -> float:
        """The `q`-th percentile (0..100), interpolated linearly inside the bucket holding the rank."""
        if self.count == 0:
            return 0.0
        rank = q / 100.0 * self.count
        seen = 0
        for i, c in enumerate(self.counts):
            if c == 0:
                continue
            if seen + c >= rank:
                low = self.buckets.lower(i) if i > 0 else min(0.0, self.buckets.upper(0))
                high = self.buckets.upper(i)
                if math.isinf(high):
                    return low
                return low + (high - low) * max(0.0, rank - seen) / c
            seen += c
        return self.buckets.lower(self.buckets.size - 1)


def merged(dists: list[Dist]) -> Dist:
    """A new distribution holding all samples of `dists` (which must share bucket options)."""
    out = Dist(dists[0].buckets)
    for d in dists:
        out.merge(d)
    return out


Value = int | float | Dist  # a bool (an int) for BOOL metrics


def add_values(a: Value, b: Value) -> Value:
    """Sum two values of the same kind (distributions are merged)."""
    if isinstance(a, Dist):
        if not isinstance(b, Dist):
            raise TypeError("cannot add a number to a distribution")
        out = a.copy()
        out.merge(b)
        return out
    if isinstance(b, Dist):
        raise TypeError("cannot add a distribution to a number")
    return a + b


def numeric_percentile(values: list[float], q: float) -> float:
    """Percentile of plain numbers, linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q / 100.0 * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def dist_to_pb(dist: Dist) -> Any:
    """The `google.api.Distribution` message for `dist`; trailing zero bucket counts are omitted."""
    out = distribution_pb2.Distribution(
        count=dist.count,
        mean=dist.mean,
        sum_of_squared_deviation=dist.m2,
    )
    layout = dist.buckets
    if isinstance(layout, ExponentialBuckets):
        exp = out.bucket_options.exponential_buckets
        exp.num_finite_buckets, exp.growth_factor, exp.scale = (
            layout.num_finite_buckets,
            layout.growth_factor,
            layout.scale,
        )
    elif isinstance(layout, LinearBuckets):
        lin = out.bucket_options.linear_buckets
        lin.num_finite_buckets, lin.width, lin.offset = layout.num_finite_buckets, layout.width, layout.offset
    elif isinstance(layout, ExplicitBuckets):
        out.bucket_options.explicit_buckets.bounds.extend(layout.bounds)
    last = max((i for i, c in enumerate(dist.counts) if c), default=-1)
    out.bucket_counts.extend(dist.counts[: last + 1])
    return out


def _layout_of(options: Any) -> Buckets:
    which = options.WhichOneof("options")
    if which == "exponential_buckets":
        e = options.exponential_buckets
        if e.num_finite_buckets <= 0 or e.growth_factor <= 1 or e.scale <= 0:
            raise ValueError("exponential buckets need numFiniteBuckets > 0, growthFactor > 1 and scale > 0")
        return ExponentialBuckets(e.num_finite_buckets, e.growth_factor, e.scale)
    if which == "linear_buckets":
        lin = options.linear_buckets
        if lin.num_finite_buckets <= 0 or lin.width <= 0:
            raise ValueError("linear buckets need numFiniteBuckets > 0 and width > 0")
        return LinearBuckets(lin.num_finite_buckets, lin.width, lin.offset)
    if which == "explicit_buckets":
        bounds = tuple(options.explicit_buckets.bounds)
        if not bounds or any(b <= a for a, b in itertools.pairwise(bounds)):
            raise ValueError("explicit buckets need at least one bound, strictly increasing")
        return ExplicitBuckets(bounds)
    raise ValueError("bucketOptions must hold exactly one of linearBuckets, exponentialBuckets, explicitBuckets")


def dist_from_pb(pb: Any) -> Dist:
    """A user-written `google.api.Distribution` as a `Dist`; ValueError saying what the API would refuse."""
    layout = _layout_of(pb.bucket_options)
    if layout.size > MAX_BUCKETS:
        raise ValueError(f"a distribution may have at most {MAX_BUCKETS} buckets, got {layout.size}")
    counts = list(pb.bucket_counts)
    if len(counts) > layout.size:
        raise ValueError(f"bucketCounts has {len(counts)} values for {layout.size} buckets")
    if any(c < 0 for c in counts) or pb.count < 0:
        raise ValueError("counts must not be negative")
    if counts and sum(counts) != pb.count:
        raise ValueError(f"the bucket counts sum to {sum(counts)}, not to count {pb.count}")
    if pb.count == 0 and (pb.mean or pb.sum_of_squared_deviation or pb.HasField("range")):
        raise ValueError("an empty distribution must have mean 0, sumOfSquaredDeviation 0 and no range")
    if pb.sum_of_squared_deviation < 0 or not math.isfinite(pb.mean):
        raise ValueError("sumOfSquaredDeviation must be >= 0 and mean finite")
    dist = Dist(layout)
    dist.counts = counts + [0] * (layout.size - len(counts))
    if not counts and pb.count:
        dist.counts[layout.index(pb.mean)] = pb.count  # no buckets given: all samples at the mean
    dist.count, dist.mean, dist.m2 = pb.count, pb.mean, pb.sum_of_squared_deviation
    return dist


def set_typed_value(typed_value: Any, value: Value, *, as_double: bool = False) -> None:
    """Fill a raw `google.monitoring.v3.TypedValue` message with `value`."""
    if isinstance(value, bool):
        typed_value.bool_value = value
    elif isinstance(value, Dist):
        typed_value.distribution_value.CopyFrom(dist_to_pb(value))
    elif as_double or isinstance(value, float):
        typed_value.double_value = float(value)
    else:
        typed_value.int64_value = int(value)
