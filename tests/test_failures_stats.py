"""The report's statistics against published reference values."""

from __future__ import annotations

import math

import pytest

from agentlab.eval.report.stats import (
    PairedTable,
    mcnemar_exact,
    paired_difference_interval,
    wilson,
)


def test_wilson_reference_values() -> None:
    # Newcombe (1998a), Table I: 81/263 -> 0.2553 to 0.3662; 15/148 -> 0.0624 to 0.1605.
    low, high = wilson(81, 263).low, wilson(81, 263).high
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    i = wilson(15, 148)
    assert (round(i.low, 4), round(i.high, 4)) == (0.0624, 0.1605)


def test_wilson_edges() -> None:
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == 1.0
    assert round(wilson(0, 10).high, 4) == 0.2775
    assert (wilson(0, 0).low, wilson(0, 0).high) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_mcnemar_exact_is_a_two_sided_binomial_test() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == 2 / 32
    assert mcnemar_exact(3, 3) == 1.0
    # b=2, c=12: 2 * P[X <= 2], X ~ Bin(14, 1/2)
    expected = 2 * sum(math.comb(14, k) for k in range(3)) / 2**14
    assert mcnemar_exact(2, 12) == pytest.approx(expected) == pytest.approx(0.012939453125)
    assert mcnemar_exact(12, 2) == mcnemar_exact(2, 12)


def test_newcombe_paired_interval_reference() -> None:
    # Fagerland, Lydersen & Laake, ch. 8 (Cavo et al. 2012): [[59, 6], [16, 80]],
    # first - second = -0.0621 (95% CI -0.1186 to -0.0046). Ours is second - first.
    table = PairedTable(a=59, b=6, c=16, d=80)
    interval = paired_difference_interval(table)
    assert round(table.difference, 4) == 0.0621
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.0046, 0.1186)


def test_paired_interval_edges() -> None:
    same = paired_difference_interval(PairedTable(a=5, b=0, c=0, d=5))
    assert same.low < 0 < same.high
    worst = paired_difference_interval(PairedTable(a=0, b=10, c=0, d=0))
    assert -1.0 <= worst.low < worst.high < 0
    empty = paired_difference_interval(PairedTable(0, 0, 0, 0))
    assert (empty.low, empty.high) == (-1.0, 1.0)


def test_mcnemar_for_thousands_of_pairs_matches_the_exact_sum() -> None:
    from agentlab.eval.report import stats

    exact = 2 * sum(math.comb(2400, k) for k in range(1150)) / 2**2400
    assert stats.mcnemar_exact(1149, 1251) == pytest.approx(exact, rel=1e-9)
    assert stats.mcnemar_exact(10, 3000) < 1e-300 or stats.mcnemar_exact(10, 3000) == 0.0
