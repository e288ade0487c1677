"""Parity of the Benjamini-Hochberg q-values with statsmodels."""

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from asdfeat.errors import StatsError
from asdfeat.stats.fdr import benjamini_hochberg


@pytest.mark.parametrize("m", [1, 2, 7, 21, 50])
def test_matches_statsmodels(m):
    rng = np.random.default_rng(m)
    p = np.concatenate([rng.uniform(0, 0.05, size=m // 3), rng.uniform(0, 1, size=m - m // 3)])
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=0, atol=1e-12)


def test_tied_p_values_match_statsmodels():
    p = np.array([0.01, 0.01, 0.04, 0.04, 0.5, 1.0])
    np.testing.assert_allclose(benjamini_hochberg(p), multipletests(p, method="fdr_bh")[1], atol=1e-12)


def test_nan_excluded_from_family():
    p = np.array([0.01, np.nan, 0.03, 0.2, np.nan])
    q = benjamini_hochberg(p)
    assert np.isnan(q[1])
    assert np.isnan(q[4])
    np.testing.assert_allclose(q[[0, 2, 3]], multipletests(p[[0, 2, 3]], method="fdr_bh")[1], atol=1e-12)


def test_all_nan_returns_nan():
    assert np.all(np.isnan(benjamini_hochberg(np.array([np.nan, np.nan]))))


def test_out_of_range_raises():
    with pytest.raises(StatsError, match=r"\[0, 1\]"):
        benjamini_hochberg(np.array([0.2, 1.5]))
