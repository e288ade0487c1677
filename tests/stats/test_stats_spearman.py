"""Parity of the exact Spearman test with SciPy's spearmanr and permutation_test."""

import math

import numpy as np
import pytest
from scipy import stats

from asdfeat.errors import StatsError
from asdfeat.stats.spearman import (
    doubled_average_ranks,
    null_distribution_counts,
    spearman_test,
)


def scipy_exact_p(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided p-value of SciPy's exact pairings test with spearmanr's statistic."""

    def statistic(permuted_x):
        return stats.spearmanr(permuted_x, y).statistic

    result = stats.permutation_test((x,), statistic, permutation_type="pairings", n_resamples=np.inf)
    return float(result.pvalue)


def scipy_exact_p_vectorised(x: np.ndarray, y: np.ndarray) -> float:
    """The same test with a vectorised statistic, fast enough for n = 8."""
    y_ranks = stats.rankdata(y)
    y_centred = y_ranks - y_ranks.mean()

    def statistic(permuted_x, axis=-1):
        ranks = stats.rankdata(permuted_x, axis=axis)
        centred = ranks - ranks.mean(axis=axis, keepdims=True)
        return (centred * y_centred).sum(axis=axis) / np.sqrt((centred**2).sum(axis=axis) * (y_centred**2).sum())

    result = stats.permutation_test((x,), statistic, permutation_type="pairings", n_resamples=np.inf, vectorized=True)
    return float(result.pvalue)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_random_data_matches_scipy(n):
    rng = np.random.default_rng(100 + n)
    for _ in range(3):
        x = rng.normal(size=n)
        y = 0.5 * x + rng.normal(size=n)
        result = spearman_test(x, y)
        assert result.rho == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
        assert result.p == pytest.approx(scipy_exact_p(x, y), abs=1e-12)
        assert result.p_method == "exact"
        assert result.n_resamples == math.factorial(n)


@pytest.mark.parametrize("n", [6, 7, 8])
def test_larger_n_matches_vectorised_scipy(n):
    rng = np.random.default_rng(7 * n)
    x = rng.normal(size=n)
    y = x + rng.normal(size=n)
    result = spearman_test(x, y)
    assert result.rho == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert result.p == pytest.approx(scipy_exact_p_vectorised(x, y), abs=1e-12)


def test_ties_match_scipy_not_asymptotic():
    x = np.array([1, 1, 2, 2, 3], dtype=float)
    y = np.array([1, 2, 3, 4, 5], dtype=float)
    result = spearman_test(x, y)
    reference = stats.spearmanr(x, y)

    assert result.rho == pytest.approx(reference.statistic, abs=1e-12)
    assert result.p == pytest.approx(scipy_exact_p(x, y), abs=1e-12)
    # The asymptotic t-approximation is far from the exact value here.
    assert abs(result.p - reference.pvalue) > 0.03


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_ties_in_both_match_scipy(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=7).astype(float)
    y = rng.integers(0, 4, size=7).astype(float)
    if np.all(x == x[0]) or np.all(y == y[0]):
        pytest.skip("drew a constant vector")
    result = spearman_test(x, y)
    assert result.rho == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert result.p == pytest.approx(scipy_exact_p_vectorised(x, y), abs=1e-12)


def test_perfect_negative_correlation():
    x = np.arange(6.0)
    result = spearman_test(x, -x)
    assert result.rho == pytest.approx(-1.0)
    assert result.p == pytest.approx(2 / math.factorial(6))


@pytest.mark.parametrize(
    ("x", "y", "constant"),
    [
        ([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0], "x is constant"),
        ([1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0], "y is constant"),
        ([2.0, 2.0, 2.0], [5.0, 5.0, 5.0], "x and y are constant"),
    ],
)
def test_constant_vector_gives_nan(x, y, constant):
    result = spearman_test(x, y)
    assert math.isnan(result.rho)
    assert math.isnan(result.p)
    assert result.p_method == "none"
    assert constant in result.note


def test_null_counts_cover_all_pairings():
    for n in range(3, 9):
        ranks = doubled_average_ranks(np.arange(n, dtype=float))
        counts = null_distribution_counts(ranks, ranks)
        assert counts.sum() == math.factorial(n)


def test_tie_free_null_cached_per_n():
    first = null_distribution_counts(doubled_average_ranks(np.array([3.0, 1.0, 2.0, 9.0])), doubled_average_ranks(np.array([0.1, 0.4, 0.2, 0.3])))
    second = null_distribution_counts(doubled_average_ranks(np.array([7.0, 5.0, 6.0, 8.0])), doubled_average_ranks(np.array([4.0, 3.0, 2.0, 1.0])))
    assert first is second


def test_monte_carlo_beyond_exact_limit():
    rng = np.random.default_rng(5)
    x = rng.normal(size=9)
    y = x + rng.normal(size=9)
    exact = spearman_test(x, y)
    sampled = spearman_test(x, y, max_exact_n=8, n_resamples=20_000, seed=3)

    assert sampled.p_method == "monte-carlo"
    assert sampled.n_resamples == 20_000
    assert "20000 random pairings, seed 3" in sampled.note
    assert sampled.rho == pytest.approx(exact.rho)
    assert sampled.p == pytest.approx(exact.p, abs=0.02)
    assert spearman_test(x, y, max_exact_n=8, n_resamples=20_000, seed=3).p == sampled.p


def test_invalid_input_raises():
    with pytest.raises(StatsError, match="at least 3"):
        spearman_test([1.0, 2.0], [2.0, 1.0])
    with pytest.raises(StatsError, match="same length"):
        spearman_test([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(StatsError, match="finite"):
        spearman_test([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(StatsError, match="max_exact_n"):
        spearman_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], max_exact_n=13)
