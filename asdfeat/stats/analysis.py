"""Proxy-versus-ASD rank analysis: Spearman tests, q-values and rank reversals.

For every family and ASD metric, the direction-adjusted proxy metric is
correlated with the ASD metric (Spearman, exact permutation p-value). The
p-values are then adjusted with Benjamini-Hochberg over the chosen
multiplicity family, and the best configuration by proxy is compared with the
best by ASD.

A rank reversal means that no configuration is best by both. When several
configurations tie for best, each side is the set of tied configurations, and
the check asks whether the two sets are disjoint, so a tie that shares one
configuration is not a reversal (the ``note`` column lists the ties).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from asdfeat.errors import StatsError
from asdfeat.stats.fdr import benjamini_hochberg
from asdfeat.stats.spearman import DEFAULT_MAX_EXACT_N, DEFAULT_N_RESAMPLES, DEFAULT_SEED, spearman_test
from asdfeat.stats.table import ProxyTable

logger = logging.getLogger(__name__)

FDR_SCOPES = ("all", "asd_metric", "family")
"""Multiplicity families: every test together, one per ASD metric, or one per proxy family."""


@dataclass(frozen=True)
class CorrelationTest:
    """One family x ASD-metric test and its rank-reversal check.

    ``best_by_proxy`` and ``best_by_asd`` hold every configuration tied for
    best. ``q`` is NaN when ``p`` is NaN, because such a test is left out of
    the multiplicity family.
    """

    family: str
    asd_metric: str
    n: int
    rho: float
    p: float
    q: float
    best_by_proxy: tuple[str, ...]
    best_by_asd: tuple[str, ...]
    reversal: bool
    p_method: str
    n_resamples: int
    note: str

    def as_record(self) -> dict[str, object]:
        """Return a flat record; tied configurations are joined with ``|``."""
        record = asdict(self)
        record["best_by_proxy"] = "|".join(self.best_by_proxy)
        record["best_by_asd"] = "|".join(self.best_by_asd)
        return record


@dataclass(frozen=True)
class StatsResult:
    """Every test of one analysis with the settings that produced it."""

    tests: tuple[CorrelationTest, ...]
    families: tuple[str, ...]
    asd_metrics: tuple[str, ...]
    fdr_scope: str
    max_exact_n: int
    n_resamples: int
    seed: int

    @property
    def untested(self) -> tuple[CorrelationTest, ...]:
        """Tests with a NaN p-value, which are excluded from the q-values."""
        return tuple(test for test in self.tests if np.isnan(test.p))

    def test(self, family: str, asd_metric: str) -> CorrelationTest:
        """Return the test of one family and ASD metric."""
        for test in self.tests:
            if test.family == family and test.asd_metric == asd_metric:
                return test
        raise StatsError(f"no test for family {family!r} and ASD metric {asd_metric!r}")


def best_configs(values: np.ndarray, configs: np.ndarray) -> tuple[str, ...]:
    """Return every configuration whose value equals the maximum, in input order."""
    best = np.max(values)
    return tuple(str(config) for config, value in zip(configs, values) if value == best)


def compare_best(proxy: np.ndarray, asd: np.ndarray, configs: np.ndarray) -> tuple[tuple[str, ...], tuple[str, ...], bool, str]:
    """Find the best configurations by proxy and by ASD and whether they reverse.

    Returns
    -------
    best_by_proxy, best_by_asd : tuple of str
        Configurations tied for the maximum of each (proxy direction-adjusted).
    reversal : bool
        True when the two sets share no configuration.
    note : str
        Describes ties, empty when both sides have a single best.
    """
    by_proxy = best_configs(proxy, configs)
    by_asd = best_configs(asd, configs)
    reversal = not set(by_proxy) & set(by_asd)
    ties = [
        f"{len(names)} configurations tie for best by {side} ({', '.join(names)})"
        for side, names in (("proxy", by_proxy), ("ASD", by_asd))
        if len(names) > 1
    ]
    return by_proxy, by_asd, reversal, "; ".join(ties)


def _join_notes(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


def correlate_rows(
    table: ProxyTable,
    rows: np.ndarray,
    asd_metric: str,
    *,
    label: str,
    max_exact_n: int = DEFAULT_MAX_EXACT_N,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> CorrelationTest:
    """Test one set of rows (a family, or a group within it) against one ASD metric.

    Parameters
    ----------
    table : ProxyTable
    rows : numpy.ndarray of int, shape (n,)
        Row indices, n >= 3.
    asd_metric : str
        ASD column name.
    label : str
        Name stored in the ``family`` field of the result.

    Returns
    -------
    CorrelationTest
        With ``q`` NaN; :func:`analyse_proxy_table` fills it in.
    """
    proxy = table.adjusted_proxy[rows]
    asd = table.asd[asd_metric][rows]
    configs = table.config[rows]
    result = spearman_test(
        proxy, asd, max_exact_n=max_exact_n, n_resamples=n_resamples, seed=seed, names=("the proxy metric", asd_metric)
    )
    by_proxy, by_asd, reversal, tie_note = compare_best(proxy, asd, configs)
    return CorrelationTest(
        family=label,
        asd_metric=asd_metric,
        n=result.n,
        rho=result.rho,
        p=result.p,
        q=float("nan"),
        best_by_proxy=by_proxy,
        best_by_asd=by_asd,
        reversal=reversal,
        p_method=result.p_method,
        n_resamples=result.n_resamples,
        note=_join_notes(result.note, tie_note),
    )


def _fdr_key(test: CorrelationTest, fdr_scope: str) -> str:
    if fdr_scope == "asd_metric":
        return test.asd_metric
    if fdr_scope == "family":
        return test.family
    return "all"


def adjust_q_values(tests: list[CorrelationTest], fdr_scope: str) -> list[CorrelationTest]:
    """Fill in Benjamini-Hochberg q-values within each multiplicity family."""
    if fdr_scope not in FDR_SCOPES:
        raise StatsError(f"unknown FDR scope {fdr_scope!r}; choose one of {list(FDR_SCOPES)}")
    q_values = np.full(len(tests), np.nan)
    keys = [_fdr_key(test, fdr_scope) for test in tests]
    for key in dict.fromkeys(keys):
        members = np.array([i for i, other in enumerate(keys) if other == key])
        q_values[members] = benjamini_hochberg(np.array([tests[i].p for i in members]))

    adjusted = []
    for test, q in zip(tests, q_values):
        note = test.note
        if np.isnan(test.p):
            note = _join_notes(note, "excluded from the Benjamini-Hochberg family")
        adjusted.append(CorrelationTest(**{**asdict(test), "q": float(q), "note": note}))
    return adjusted


def analyse_proxy_table(
    table: ProxyTable,
    *,
    fdr_scope: str = "all",
    max_exact_n: int = DEFAULT_MAX_EXACT_N,
    n_resamples: int = DEFAULT_N_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> StatsResult:
    """Run every family x ASD-metric test of a proxy table.

    Parameters
    ----------
    table : ProxyTable
        Validated table (every family has at least 3 configurations).
    fdr_scope : {"all", "asd_metric", "family"}, default "all"
        Multiplicity family of the Benjamini-Hochberg adjustment.
    max_exact_n, n_resamples, seed
        Passed to :func:`asdfeat.stats.spearman.spearman_test`.

    Returns
    -------
    StatsResult
        Tests ordered by family (first appearance), then ASD metric (column order).
    """
    if fdr_scope not in FDR_SCOPES:
        raise StatsError(f"unknown FDR scope {fdr_scope!r}; choose one of {list(FDR_SCOPES)}")

    tests = [
        correlate_rows(
            table,
            table.family_rows(family),
            metric,
            label=family,
            max_exact_n=max_exact_n,
            n_resamples=n_resamples,
            seed=seed,
        )
        for family in table.families
        for metric in table.asd_metrics
    ]
    tests = adjust_q_values(tests, fdr_scope)
    untested = sum(np.isnan(test.p) for test in tests)
    if untested:
        logger.warning("%d of %d tests have no p-value and are left out of the q-values", untested, len(tests))

    return StatsResult(
        tests=tuple(tests),
        families=table.families,
        asd_metrics=table.asd_metrics,
        fdr_scope=fdr_scope,
        max_exact_n=max_exact_n,
        n_resamples=n_resamples,
        seed=seed,
    )
