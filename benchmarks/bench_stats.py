"""Time the exact Spearman test against SciPy's vectorised exact permutation test.

For each n from 5 to 10, one random data set with ties is tested by

* SciPy: ``scipy.stats.permutation_test((x,), statistic,
  permutation_type="pairings", n_resamples=np.inf, vectorized=True)`` with a
  vectorised Spearman statistic (average ranks, Pearson correlation);
* asdfeat, cold: :func:`asdfeat.stats.spearman.spearman_test` after clearing the
  null-distribution cache, so the n! enumeration is timed (JIT compiled once
  beforehand);
* asdfeat, cached: the same call again, which reuses the cached null
  distribution.

The script prints seconds and the SciPy / asdfeat ratios side by side, and
checks that both p-values agree.

Run: ``python benchmarks/bench_stats.py [--max-n 10] [--repeats 3]``
"""

from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np
from scipy import stats

from asdfeat.stats.spearman import clear_null_cache, spearman_test

SCIPY_BATCH = 400_000


def scipy_exact(x: np.ndarray, y: np.ndarray) -> float:
    """Two-sided exact p-value from SciPy's vectorised pairings test."""
    y_ranks = stats.rankdata(y)
    y_centred = y_ranks - y_ranks.mean()

    def statistic(permuted_x, axis=-1):
        ranks = stats.rankdata(permuted_x, axis=axis)
        centred = ranks - ranks.mean(axis=axis, keepdims=True)
        return (centred * y_centred).sum(axis=axis) / np.sqrt((centred**2).sum(axis=axis) * (y_centred**2).sum())

    result = stats.permutation_test(
        (x,), statistic, permutation_type="pairings", n_resamples=np.inf, vectorized=True, batch=SCIPY_BATCH
    )
    return float(result.pvalue)


def best_time(function, repeats: int) -> tuple[float, object]:
    """Return the minimum wall time over ``repeats`` calls and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return min(times), value


def asdfeat_cold(x: np.ndarray, y: np.ndarray) -> float:
    clear_null_cache()
    return spearman_test(x, y).p


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-n", type=int, default=5)
    parser.add_argument("--max-n", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="Timed calls per method; the minimum is reported.")
    arguments = parser.parse_args()

    print(f"machine: {platform.machine()}, {platform.processor() or 'unknown CPU'}, Python {platform.python_version()}")
    spearman_test(np.arange(5.0), np.arange(5.0))  # compile the Numba kernel outside the timings

    header = f"{'n':>3} {'n!':>10} {'scipy s':>10} {'cold s':>10} {'cached s':>10} {'scipy/cold':>11} {'scipy/cached':>13}  p equal"
    print(header)
    rng = np.random.default_rng(0)
    for n in range(arguments.min_n, arguments.max_n + 1):
        x = rng.integers(0, n - 1, size=n).astype(float)  # ties in x
        y = x + rng.normal(size=n)
        scipy_repeats = 1 if n >= 9 else arguments.repeats

        scipy_seconds, scipy_p = best_time(lambda: scipy_exact(x, y), scipy_repeats)
        cold_seconds, cold_p = best_time(lambda: asdfeat_cold(x, y), arguments.repeats)
        cached_seconds, cached_p = best_time(lambda: spearman_test(x, y).p, arguments.repeats)
        same = math.isclose(scipy_p, cold_p, abs_tol=1e-12) and cold_p == cached_p

        print(
            f"{n:>3} {math.factorial(n):>10} {scipy_seconds:>10.4f} {cold_seconds:>10.5f} {cached_seconds:>10.6f} "
            f"{scipy_seconds / cold_seconds:>11.0f} {scipy_seconds / cached_seconds:>13.0f}  {same}"
        )


if __name__ == "__main__":
    main()
