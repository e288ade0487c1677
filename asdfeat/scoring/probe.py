"""L2-regularised logistic-regression probes fitted by batched Numba Newton solvers.

The objective is scikit-learn's (1.9) for ``LogisticRegression(C=C)`` with an
unpenalised intercept, on features standardised with the training fold's mean
and population standard deviation (a feature with zero variance keeps scale
1, as in ``StandardScaler``)::

    C * sum_i log(1 + exp(-s_i (x_i . w + b))) + ||w||^2 / 2,   s_i = +-1

Folds with fewer clips than dimensions are solved in the span of their
training rows through the Gram matrix, the others on the features directly
(see :mod:`asdfeat.scoring.probe_kernels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.special
from threadpoolctl import threadpool_limits

from asdfeat.errors import ScoringError
from asdfeat.scoring.probe_kernels import newton_dual_batch, newton_primal_batch


@dataclass(frozen=True)
class ProbeModel:
    """Fitted logistic-regression probe in the original feature space.

    Attributes
    ----------
    coef : numpy.ndarray of shape (d,)
        Weights applied to raw (unstandardised) embeddings.
    intercept : float
        Bias added to the decision value.
    n_iter : int
        Newton iterations used.
    converged : bool
        Whether the Newton decrement reached its tolerance within the limit.
    """

    coef: np.ndarray
    intercept: float
    n_iter: int
    converged: bool

    def decision_function(self, X) -> np.ndarray:
        """Return the log-odds of the anomalous class, shape (m,)."""
        return np.asarray(X, dtype=np.float64) @ self.coef + self.intercept

    def predict_proba(self, X) -> np.ndarray:
        """Return the probability of the anomalous class, shape (m,), as scikit-learn computes it."""
        return scipy.special.expit(self.decision_function(X))


def _check_problem(X, y, index: int) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(X, dtype=np.float64)
    labels = np.asarray(y)
    if features.ndim != 2 or labels.ndim != 1 or features.shape[0] != labels.shape[0]:
        raise ScoringError(
            f"probe problem {index}: expected X of shape (n, d) and y of shape (n,), "
            f"got {features.shape} and {labels.shape}"
        )
    if not np.isfinite(features).all():
        raise ScoringError(f"probe problem {index}: embeddings contain NaN or infinite values")
    if not np.isin(labels, (0, 1)).all():
        raise ScoringError(f"probe problem {index}: labels must be boolean or 0/1 (1 = anomaly)")
    labels = labels.astype(np.float64)
    if labels.min() == labels.max():
        raise ScoringError(
            f"probe problem {index}: all {labels.shape[0]} training clips have the same label; "
            "a logistic-regression probe needs both classes"
        )
    return features, labels


def fit_probes(
    problems: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    C: float = 1.0,
    max_iter: int = 100,
) -> list[ProbeModel]:
    """Fit one logistic-regression probe per (X, y) problem in a single Numba call.

    Parameters
    ----------
    problems : sequence of (X, y)
        ``X`` of shape (n_p, d_p) embeddings and ``y`` of shape (n_p,)
        labels (1 or True = anomaly); sizes may differ between problems.
    C : float, default 1.0
        Inverse regularisation strength, as in scikit-learn.
    max_iter : int, default 100
        Newton iteration limit per problem.

    Returns
    -------
    list of ProbeModel
        One model per problem, in input order.

    Raises
    ------
    ScoringError
        If a problem has one class, mismatched shapes or non-finite values,
        or if ``C`` is not positive.
    """
    if not C > 0:
        raise ScoringError(f"C must be positive, got {C}")
    if not problems:
        return []
    checked = [_check_problem(X, y, i) for i, (X, y) in enumerate(problems)]
    standardised = [_standardise(X) for X, _ in checked]
    primal = [p for p, (Xs, _, _) in enumerate(standardised) if Xs.shape[1] <= Xs.shape[0]]
    dual = [p for p, (Xs, _, _) in enumerate(standardised) if Xs.shape[1] > Xs.shape[0]]

    weights = [None] * len(checked)
    intercepts = [0.0] * len(checked)
    iterations = [0] * len(checked)
    converged = [False] * len(checked)

    # Gram matrices are one large product each, so they keep all BLAS threads.
    grams = [standardised[p][0] @ standardised[p][0].T for p in dual]

    # The solvers make many BLAS calls on matrices of a few hundred rows,
    # where extra BLAS threads only add synchronisation cost (and stall badly
    # when the cores are shared), so they run on one BLAS thread.
    with threadpool_limits(limits=1, user_api="blas"):
        if primal:
            designs = [standardised[p][0] for p in primal]
            results = newton_primal_batch(*_pack_designs(designs, [checked[p][1] for p in primal]), float(C), int(max_iter))
            for slot, p in enumerate(primal):
                weights[p] = results[0][slot, : designs[slot].shape[1]].copy()
                intercepts[p], iterations[p], converged[p] = results[1][slot], results[2][slot], results[3][slot]
        if dual:
            results = newton_dual_batch(*_pack_grams(grams, [checked[p][1] for p in dual]), float(C), int(max_iter))
            for slot, p in enumerate(dual):
                dual_coefficients = results[0][slot, : grams[slot].shape[0]]
                weights[p] = standardised[p][0].T @ dual_coefficients
                intercepts[p], iterations[p], converged[p] = results[1][slot], results[2][slot], results[3][slot]

    models = []
    for p, (_, mean, scale) in enumerate(standardised):
        coef = weights[p] / scale
        intercept = float(intercepts[p] - mean @ coef)
        models.append(ProbeModel(coef, intercept, int(iterations[p]), bool(converged[p])))
    return models


def _standardise(X: np.ndarray):
    """Return (standardised X, mean, scale) as ``StandardScaler`` computes them."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    return (X - mean) / scale, mean, scale


def _pack_designs(designs, labels):
    n_rows = np.array([Z.shape[0] for Z in designs], dtype=np.int64)
    n_cols = np.array([Z.shape[1] for Z in designs], dtype=np.int64)
    Z_packed = np.zeros((len(designs), n_rows.max(), n_cols.max()))
    y_packed = np.zeros((len(designs), n_rows.max()))
    for p, (Z, y) in enumerate(zip(designs, labels)):
        Z_packed[p, : n_rows[p], : n_cols[p]] = Z
        y_packed[p, : n_rows[p]] = y
    return Z_packed, y_packed, n_rows, n_cols


def _pack_grams(grams, labels):
    n_rows = np.array([K.shape[0] for K in grams], dtype=np.int64)
    K_packed = np.zeros((len(grams), n_rows.max(), n_rows.max()))
    y_packed = np.zeros((len(grams), n_rows.max()))
    for p, (K, y) in enumerate(zip(grams, labels)):
        K_packed[p, : n_rows[p], : n_rows[p]] = K
        y_packed[p, : n_rows[p]] = y
    return K_packed, y_packed, n_rows
