"""ROC AUC and McClish-standardised partial AUC, computed by Numba kernels.

Both functions reproduce ``sklearn.metrics.roc_auc_score`` (scikit-learn
1.9). Tied scores form one threshold, so a tie between an anomaly and a
normal clip counts as half a correct ordering. The partial AUC is the area
up to ``max_fpr``, with linear interpolation at ``max_fpr``, rescaled by
McClish's correction so that 0.5 is chance and 1.0 is perfect.
"""

from __future__ import annotations

import numba
import numpy as np

from asdfeat.errors import ScoringError


@numba.njit(cache=True)
def _roc_points(labels, scores):
    """Return (fpr, tpr) at every distinct threshold, starting at (0, 0)."""
    order = np.argsort(-scores, kind="mergesort")
    n = scores.shape[0]
    n_pos = 0.0
    for i in range(n):
        n_pos += labels[i]
    n_neg = n - n_pos

    fpr = np.empty(n + 1)
    tpr = np.empty(n + 1)
    fpr[0] = 0.0
    tpr[0] = 0.0
    n_points = 1
    true_pos = 0.0
    false_pos = 0.0
    for i in range(n):
        j = order[i]
        if labels[j] > 0:
            true_pos += 1.0
        else:
            false_pos += 1.0
        # A threshold ends where the next score differs, so ties form one step.
        if i == n - 1 or scores[order[i + 1]] != scores[j]:
            fpr[n_points] = false_pos / n_neg
            tpr[n_points] = true_pos / n_pos
            n_points += 1
    return fpr[:n_points], tpr[:n_points]


@numba.njit(cache=True)
def _trapezoid(x, y):
    area = 0.0
    for i in range(1, x.shape[0]):
        area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) * 0.5
    return area


@numba.njit(cache=True)
def _auc_kernel(labels, scores, max_fpr):
    fpr, tpr = _roc_points(labels, scores)
    if max_fpr >= 1.0:
        return _trapezoid(fpr, tpr)

    # Keep the points with fpr <= max_fpr and close the curve at max_fpr.
    stop = 0
    while stop < fpr.shape[0] and fpr[stop] <= max_fpr:
        stop += 1
    x = np.empty(stop + 1)
    y = np.empty(stop + 1)
    x[:stop] = fpr[:stop]
    y[:stop] = tpr[:stop]
    x0, x1 = fpr[stop - 1], fpr[stop]
    y0, y1 = tpr[stop - 1], tpr[stop]
    x[stop] = max_fpr
    y[stop] = y0 + (y1 - y0) * (max_fpr - x0) / (x1 - x0)
    partial = _trapezoid(x, y)

    min_area = 0.5 * max_fpr * max_fpr
    max_area = max_fpr
    return 0.5 * (1.0 + (partial - min_area) / (max_area - min_area))


def _check_inputs(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(y_true)
    values = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or values.ndim != 1:
        raise ScoringError(
            f"labels and scores must be 1-D, got shapes {labels.shape} and {values.shape}"
        )
    if labels.shape[0] != values.shape[0]:
        raise ScoringError(
            f"labels and scores differ in length ({labels.shape[0]} != {values.shape[0]}); "
            "pass one score per labelled clip"
        )
    if not np.isin(labels, (0, 1)).all():
        raise ScoringError("labels must be boolean or 0/1 (1 = anomaly); got other values")
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ScoringError(f"score {values[bad]} at position {bad} is not finite; AUC needs finite scores, so fix or drop that clip")

    labels = labels.astype(np.float64)
    n_anomalies = int(labels.sum())
    if n_anomalies == 0 or n_anomalies == labels.shape[0]:
        raise ScoringError(
            f"AUC is undefined with a single class ({n_anomalies} anomalies among "
            f"{labels.shape[0]} clips); the clips need both normal and anomalous labels"
        )
    return labels, values


def roc_auc(y_true, scores) -> float:
    """Compute the area under the ROC curve of anomaly scores.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Labels, boolean or 0/1, where 1 (True) marks an anomaly.
    scores : array_like of shape (n,)
        Anomaly scores; larger means more anomalous.

    Returns
    -------
    float
        The AUC, equal to ``sklearn.metrics.roc_auc_score(y_true, scores)``.

    Raises
    ------
    ScoringError
        If the inputs differ in length, contain non-finite scores, or hold a
        single class.
    """
    labels, values = _check_inputs(y_true, scores)
    return float(_auc_kernel(labels, values, 1.0))


def partial_auc(y_true, scores, max_fpr: float = 0.1) -> float:
    """Compute the McClish-standardised partial AUC up to a false-positive rate.

    Parameters
    ----------
    y_true : array_like of shape (n,)
        Labels, boolean or 0/1, where 1 (True) marks an anomaly.
    scores : array_like of shape (n,)
        Anomaly scores; larger means more anomalous.
    max_fpr : float, default 0.1
        Upper end of the false-positive-rate range, in (0, 1]. DCASE reports
        pAUC at 0.1.

    Returns
    -------
    float
        The standardised partial AUC, equal to
        ``sklearn.metrics.roc_auc_score(y_true, scores, max_fpr=max_fpr)``.

    Raises
    ------
    ScoringError
        If ``max_fpr`` is outside (0, 1] or the inputs are invalid as in
        :func:`roc_auc`.
    """
    if not (0.0 < float(max_fpr) <= 1.0):
        raise ScoringError(f"max_fpr must be in (0, 1], got {max_fpr}")
    labels, values = _check_inputs(y_true, scores)
    return float(_auc_kernel(labels, values, float(max_fpr)))
