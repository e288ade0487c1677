"""Spearman's rank correlation with exact permutation p-values.

The exact test enumerates all n! pairings of the two samples. Because Spearman's
rho is Pearson's correlation of average ranks, and the rank means and variances
do not change under permutation, rho is an increasing function of
``T = sum_i a_i * b_perm(i)``, where ``a`` and ``b`` are the doubled average
ranks (integers even with ties). The null distribution of ``T`` therefore
depends only on the two multisets of ranks, so it is computed once by a Numba
kernel and cached: per n for tie-free data, per tie pattern otherwise.

Two-sided convention (the one ``scipy.stats.permutation_test`` uses, checked
against SciPy 1.17): ``p = min(1, 2 * min(P(T <= t_obs), P(T >= t_obs)))``,
where the probabilities count every one of the n! pairings, the observed one
included. Beyond the exact limit the p-value comes from random pairings with a
fixed seed, as ``(count + 1) / (n_resamples + 1)`` for each side.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass

import numba
import numpy as np
from scipy.stats import rankdata

from asdfeat.errors import StatsError

logger = logging.getLogger(__name__)

DEFAULT_MAX_EXACT_N = 10
"""Largest n tested exactly by default (10! = 3,628,800 pairings)."""

MAX_ALLOWED_EXACT_N = 12
"""Largest n the exact kernel accepts (12! = 479,001,600 pairings, about 6 s on one core)."""

DEFAULT_N_RESAMPLES = 100_000
DEFAULT_SEED = 0

MIN_N = 3


@dataclass(frozen=True)
class SpearmanResult:
    """Spearman's rho with its two-sided permutation p-value.

    Attributes
    ----------
    rho : float
        Spearman's rank correlation, NaN when it is undefined.
    p : float
        Two-sided p-value, NaN when rho is NaN.
    n : int
        Number of pairs.
    p_method : str
        ``"exact"`` (all n! pairings), ``"monte-carlo"`` or ``"none"``.
    n_resamples : int
        Number of pairings behind ``p``: n! when exact, the resample count for
        Monte Carlo, 0 when no test ran.
    note : str
        Why rho is NaN, or how the p-value was obtained; empty when exact.
    """

    rho: float
    p: float
    n: int
    p_method: str
    n_resamples: int
    note: str = ""


def doubled_average_ranks(values: np.ndarray) -> np.ndarray:
    """Rank values with average ranks for ties and double them.

    Parameters
    ----------
    values : numpy.ndarray, shape (n,)
        Finite numbers.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
        Twice the 1-based average ranks, so ties at rank 2.5 become 5.
    """
    ranks = rankdata(values, method="average")
    return np.rint(2.0 * ranks).astype(np.int64)


@numba.njit(cache=True)
def _pairing_histogram(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Count ``T = sum a[i] * b[perm[i]]`` over all n! permutations (Heap's algorithm)."""
    n = a.shape[0]
    max_t = 0
    a_sorted = np.sort(a)
    b_sorted = np.sort(b)
    for i in range(n):
        max_t += a_sorted[i] * b_sorted[i]
    counts = np.zeros(max_t + 1, dtype=np.int64)

    perm = np.arange(n)
    stack = np.zeros(n, dtype=np.int64)
    t = 0
    for i in range(n):
        t += a[i] * b[perm[i]]
    counts[t] += 1

    # Each step of Heap's algorithm swaps two positions, so T changes by
    # (a[j] - a[i]) * (b[perm[i]] - b[perm[j]]) and costs O(1).
    i = 1
    while i < n:
        if stack[i] < i:
            j = 0 if i % 2 == 0 else stack[i]
            t += (a[j] - a[i]) * (b[perm[i]] - b[perm[j]])
            swapped = perm[j]
            perm[j] = perm[i]
            perm[i] = swapped
            counts[t] += 1
            stack[i] += 1
            i = 1
        else:
            stack[i] = 0
            i += 1
    return counts


@functools.lru_cache(maxsize=256)
def _cached_null_counts(a_sorted: tuple[int, ...], b_sorted: tuple[int, ...]) -> np.ndarray:
    counts = _pairing_histogram(np.array(a_sorted, dtype=np.int64), np.array(b_sorted, dtype=np.int64))
    counts.setflags(write=False)
    return counts


def null_distribution_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the exact null distribution of ``T`` for two doubled-rank vectors.

    Parameters
    ----------
    a, b : numpy.ndarray of int64, shape (n,)
        Doubled average ranks (see :func:`doubled_average_ranks`).

    Returns
    -------
    numpy.ndarray of int64, shape (max_T + 1,)
        ``counts[t]`` is the number of the n! pairings whose statistic is ``t``.
        The array is read-only and shared through the cache, which is keyed by
        the sorted ranks (so by n alone for tie-free data).
    """
    if a.shape != b.shape or a.ndim != 1:
        raise StatsError(f"rank vectors must have the same 1-D shape, got {a.shape} and {b.shape}")
    if a.shape[0] > MAX_ALLOWED_EXACT_N:
        raise StatsError(
            f"the exact test enumerates n! pairings and accepts n <= {MAX_ALLOWED_EXACT_N}, got n = {a.shape[0]}; "
            "use the Monte Carlo test for larger n"
        )
    return _cached_null_counts(tuple(np.sort(a).tolist()), tuple(np.sort(b).tolist()))


def clear_null_cache() -> None:
    """Drop every cached null distribution (used by benchmarks to time cold runs)."""
    _cached_null_counts.cache_clear()


def _two_sided(count_le: float, count_ge: float, total: float) -> float:
    return float(min(1.0, 2.0 * min(count_le, count_ge) / total))


def _exact_p(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    counts = null_distribution_counts(a, b)
    t_obs = int(np.dot(a, b))
    count_le = int(counts[: t_obs + 1].sum())
    count_ge = int(counts[t_obs:].sum())
    total = math.factorial(a.shape[0])
    return _two_sided(count_le, count_ge, total), total


def _monte_carlo_p(a: np.ndarray, b: np.ndarray, n_resamples: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    t_obs = int(np.dot(a, b))
    count_le = 0
    count_ge = 0
    batch = 10_000
    done = 0
    while done < n_resamples:
        size = min(batch, n_resamples - done)
        permuted = rng.permuted(np.broadcast_to(b, (size, b.shape[0])), axis=1)
        t_null = permuted @ a
        count_le += int(np.count_nonzero(t_null <= t_obs))
        count_ge += int(np.count_nonzero(t_null >= t_obs))
        done += size
    return _two_sided(count_le + 1, count_ge + 1, n_resamples + 1)


def _validate_pair(x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 1 or x.shape != y.shape:
        raise StatsError(f"x and y must be 1-D with the same length, got shapes {x.shape} and {y.shape}")
    if x.shape[0] < MIN_N:
        raise StatsError(f"Spearman's test needs at least {MIN_N} pairs, got {x.shape[0]}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise StatsError("x and y must be finite; remove or fill NaN and infinite values first")


def spearman_test(
    x: np.ndarray,
    y: np.ndarray,
    *,
    max_exact_n: int = DEFAULT_MAX_EXACT_N,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    seed: int = DEFAULT_SEED,
    names: tuple[str, str] = ("x", "y"),
) -> SpearmanResult:
    """Compute Spearman's rho and its two-sided permutation p-value.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Paired finite observations, n >= 3. Direction-adjust ``x`` before the
        call if smaller values mean better.
    max_exact_n : int, default 10
        Enumerate all n! pairings when n <= max_exact_n (at most 12);
        otherwise draw ``n_resamples`` random pairings.
    n_resamples : int, default 100000
        Number of random pairings for the Monte Carlo test.
    seed : int, default 0
        Seed of the Monte Carlo generator, so results are reproducible.
    names : tuple of str, default ("x", "y")
        Names of x and y in the note of a NaN result.

    Returns
    -------
    SpearmanResult
        rho and p are NaN, with the reason in ``note``, when x or y is
        constant.

    Raises
    ------
    StatsError
        If the shapes differ, n < 3, a value is not finite, or an option is
        out of range.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    _validate_pair(x, y)
    if not 1 <= max_exact_n <= MAX_ALLOWED_EXACT_N:
        raise StatsError(f"max_exact_n must be between 1 and {MAX_ALLOWED_EXACT_N}, got {max_exact_n}")
    if n_resamples < 1:
        raise StatsError(f"n_resamples must be positive, got {n_resamples}")

    n = x.shape[0]
    constant = [name for name, values in zip(names, (x, y)) if np.all(values == values[0])]
    if constant:
        reason = f"rho is undefined because {' and '.join(constant)} {'is' if len(constant) == 1 else 'are'} constant"
        return SpearmanResult(np.nan, np.nan, n, "none", 0, reason)

    a = doubled_average_ranks(x)
    b = doubled_average_ranks(y)
    rho = float(np.corrcoef(a, b)[0, 1])

    if n <= max_exact_n:
        p, total = _exact_p(a, b)
        return SpearmanResult(rho, p, n, "exact", total)

    p = _monte_carlo_p(a, b, n_resamples, seed)
    note = f"Monte Carlo p-value: {n_resamples} random pairings, seed {seed}, n = {n} > {max_exact_n}"
    logger.debug("spearman_test: %s", note)
    return SpearmanResult(rho, p, n, "monte-carlo", n_resamples, note)
