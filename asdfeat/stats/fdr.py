"""Benjamini-Hochberg false-discovery-rate adjustment."""

from __future__ import annotations

import numpy as np

from asdfeat.errors import StatsError


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Compute Benjamini-Hochberg q-values (adjusted p-values).

    ``q_(i) = min over j >= i of min(1, m * p_(j) / j)`` for the p-values
    sorted in increasing order, where m counts the finite p-values. This is
    the adjustment of statsmodels ``multipletests(method="fdr_bh")``.

    Parameters
    ----------
    p_values : array_like, shape (m,)
        p-values in [0, 1]. NaN entries are left out of the multiplicity
        family, so they do not raise m.

    Returns
    -------
    numpy.ndarray of float64, shape (m,)
        q-values in the input order, NaN where the p-value is NaN.

    Raises
    ------
    StatsError
        If the input is not 1-D or a finite p-value lies outside [0, 1].
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise StatsError(f"p-values must be a 1-D array, got shape {p.shape}")
    tested = ~np.isnan(p)
    if np.any((p[tested] < 0) | (p[tested] > 1)):
        raise StatsError(f"p-values must lie in [0, 1], got {p[tested].min()} to {p[tested].max()}")

    q = np.full(p.shape, np.nan)
    finite = p[tested]
    m = finite.shape[0]
    if m == 0:
        return q

    order = np.argsort(finite, kind="stable")
    scaled = finite[order] * m / np.arange(1, m + 1)
    monotone = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(monotone, 1.0)
    q[tested] = adjusted
    return q
