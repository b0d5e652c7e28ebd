"""The statistics of the failure report: Wilson intervals, McNemar's exact test, and
Newcombe's interval for a paired difference of proportions. Standard library only."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

Z95 = 1.959963984540054
"""The standard normal quantile for a two-sided 95% interval."""


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval for a binomial proportion (Wilson 1927); (0, 1) when n is 0."""
    if n <= 0:
        return Interval(0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # Exact bounds at 0 and n (rounding would otherwise leave 1e-17 crumbs).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


EXACT_UP_TO = 1000
"""McNemar p-values up to this many discordant pairs are summed in exact integers."""


@functools.lru_cache(maxsize=1024)
def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts `b` and `c`.

    Under the null each discordant pair goes either way with probability 1/2, so
    p = min(1, 2 · P[X ≤ min(b, c)]) for X ~ Binomial(b + c, 1/2).
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    if n <= EXACT_UP_TO:
        tail = sum(math.comb(n, j) for j in range(k + 1)) / (1 << n)
    else:
        # Big-integer sums get slow for thousands of pairs: sum the pmf in log space.
        logs = [
            math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) - n * math.log(2)
            for j in range(k + 1)
        ]
        top = max(logs)
        tail = math.exp(top) * math.fsum(math.exp(x - top) for x in logs)
    return min(1.0, 2 * tail)


@dataclass(frozen=True, slots=True)
class PairedTable:
    """Outcomes of two variants on the same tasks: a both pass, b only the first,
    c only the second, d neither."""

    a: int
    b: int
    c: int
    d: int

    @property
    def n(self) -> int:
        return self.a + self.b + self.c + self.d

    @property
    def first_rate(self) -> float:
        return (self.a + self.b) / self.n if self.n else 0.0

    @property
    def second_rate(self) -> float:
        return (self.a + self.c) / self.n if self.n else 0.0

    @property
    def difference(self) -> float:
        """Second minus first success rate."""
        return (self.c - self.b) / self.n if self.n else 0.0

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.b, self.c)


def paired_difference_interval(table: PairedTable, z: float = Z95) -> Interval:
    """Newcombe's square-and-add (hybrid score) interval for second − first rate on
    paired data (Newcombe 1998; as in Fagerland, Lydersen & Laake, *Statistical
    Analysis of Contingency Tables*, ch. 8): it stays inside [-1, 1] and behaves at
    0 and n, unlike Wald's."""
    n = table.n
    if n == 0:
        return Interval(-1.0, 1.0)
    a, b, c, d = table.a, table.b, table.c, table.d
    p1, p2 = table.second_rate, table.first_rate  # the difference is p1 - p2
    i1, i2 = wilson(a + c, n, z), wilson(a + b, n, z)
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    # The correlation of the two rates, with Newcombe's correction: positive
    # association is reduced by n/2 (0 when within it), negative kept as is.
    cross = a * d - b * c
    if denominator == 0 or 0 <= cross <= n / 2:
        phi = 0.0
    else:
        phi = (cross - n / 2 if cross > 0 else cross) / math.sqrt(denominator)
    theta = p1 - p2
    delta = math.sqrt(
        max(
            0.0, (p1 - i1.low) ** 2 - 2 * phi * (p1 - i1.low) * (i2.high - p2) + (i2.high - p2) ** 2
        )
    )
    epsilon = math.sqrt(
        max(
            0.0, (i1.high - p1) ** 2 - 2 * phi * (i1.high - p1) * (p2 - i2.low) + (p2 - i2.low) ** 2
        )
    )
    return Interval(max(-1.0, theta - delta), min(1.0, theta + epsilon))
