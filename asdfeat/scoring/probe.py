"""L2-regularised logistic-regression probes fitted by a batched Numba Newton solver.

The objective is scikit-learn's (1.9) for ``LogisticRegression(C=C)`` with an
unpenalised intercept, on features standardised with the training fold's mean
and population standard deviation (a feature with zero variance keeps scale
1, as in ``StandardScaler``)::

    C * sum_i log(1 + exp(-s_i (x_i . w + b))) + ||w||^2 / 2,   s_i = +-1

At the optimum ``w`` is a combination of the standardised training rows, so
when a fold has fewer clips than dimensions the solver works in the span of
those rows: with the thin decomposition ``Xs = U diag(sqrt(lam)) V^T`` it fits
``beta`` on ``Z = U diag(sqrt(lam))`` (n x r, r <= n) and maps back with
``w = V beta``; the penalty is unchanged because ``||w|| = ||beta||``. The
reduced problem is strictly convex, so separable folds still give a finite
solution. Newton steps with backtracking converge quadratically, and the
solver takes one more full step after the Newton decrement falls below
``1e-12 * (1 + objective)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
import scipy.special

from asdfeat.errors import ScoringError

# Eigenvalues of the Gram matrix below this fraction of the largest are
# treated as zero when building the row-span basis.
_RANK_TOLERANCE = 1e-12


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


@numba.njit(cache=True)
def _log1pexp(z):
    if z > 0:
        return z + np.log1p(np.exp(-z))
    return np.log1p(np.exp(z))


@numba.njit(cache=True)
def _objective(Z, y, beta, intercept, C):
    z = Z @ beta + intercept
    loss = 0.0
    for i in range(z.shape[0]):
        loss += _log1pexp(z[i]) - y[i] * z[i]
    return C * loss + 0.5 * (beta @ beta)


@numba.njit(cache=True)
def _newton_one(Z, y, C, max_iter):
    n, r = Z.shape
    beta = np.zeros(r)
    intercept = 0.0
    objective = _objective(Z, y, beta, intercept, C)
    hessian = np.empty((r + 1, r + 1))
    gradient = np.empty(r + 1)

    for iteration in range(1, max_iter + 1):
        z = Z @ beta + intercept
        prob = 1.0 / (1.0 + np.exp(-z))
        residual = prob - y
        weights = C * prob * (1.0 - prob)

        gradient[:r] = C * (Z.T @ residual) + beta
        gradient[r] = C * residual.sum()
        weighted = Z * weights.reshape((n, 1))
        hessian[:r, :r] = Z.T @ weighted
        for j in range(r):
            hessian[j, j] += 1.0
            column_sum = weighted[:, j].sum()
            hessian[j, r] = column_sum
            hessian[r, j] = column_sum
        # The intercept is unpenalised; a tiny ridge keeps the solve defined
        # when every probability has saturated.
        hessian[r, r] = weights.sum() + 1e-12

        step = np.linalg.solve(hessian, gradient)
        decrement = gradient @ step
        small = decrement <= 1e-12 * (1.0 + abs(objective))

        # Backtracking (Armijo) line search along the Newton direction.
        t = 1.0
        while True:
            new_beta = beta - t * step[:r]
            new_intercept = intercept - t * step[r]
            new_objective = _objective(Z, y, new_beta, new_intercept, C)
            if new_objective <= objective - 0.25 * t * decrement or t < 1e-10:
                break
            t *= 0.5
        if new_objective <= objective:
            beta, intercept, objective = new_beta, new_intercept, new_objective
        if small:
            return beta, intercept, iteration, True
    return beta, intercept, max_iter, False


@numba.njit(cache=True)
def _newton_batch(Z_packed, y_packed, n_rows, n_cols, C, max_iter):
    """Fit every packed problem; returns (coefficients, intercepts, iterations, converged)."""
    n_problems = Z_packed.shape[0]
    coefficients = np.zeros((n_problems, Z_packed.shape[2]))
    intercepts = np.zeros(n_problems)
    iterations = np.zeros(n_problems, dtype=np.int64)
    converged = np.zeros(n_problems, dtype=np.bool_)
    for p in range(n_problems):
        Z = np.ascontiguousarray(Z_packed[p, : n_rows[p], : n_cols[p]])
        y = np.ascontiguousarray(y_packed[p, : n_rows[p]])
        beta, intercept, n_iter, ok = _newton_one(Z, y, C, max_iter)
        coefficients[p, : n_cols[p]] = beta
        intercepts[p] = intercept
        iterations[p] = n_iter
        converged[p] = ok
    return coefficients, intercepts, iterations, converged


@dataclass
class _Reduced:
    mean: np.ndarray
    scale: np.ndarray
    design: np.ndarray  # (n, r) matrix the solver sees
    to_features: np.ndarray | None  # (n, r) map from beta to row weights, None if design is Xs
    standardised: np.ndarray


def _reduce(X: np.ndarray) -> _Reduced:
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    standardised = (X - mean) / scale
    n, d = standardised.shape
    if d <= n:
        return _Reduced(mean, scale, standardised, None, standardised)

    gram = standardised @ standardised.T
    eigenvalues, eigenvectors = np.linalg.eigh(gram)
    keep = eigenvalues > _RANK_TOLERANCE * max(eigenvalues[-1], 0.0)
    root = np.sqrt(eigenvalues[keep])
    basis = eigenvectors[:, keep]
    return _Reduced(mean, scale, basis * root, basis / root, standardised)


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
    reduced = [_reduce(X) for X, _ in checked]

    n_rows = np.array([r.design.shape[0] for r in reduced], dtype=np.int64)
    n_cols = np.array([r.design.shape[1] for r in reduced], dtype=np.int64)
    Z_packed = np.zeros((len(reduced), n_rows.max(), n_cols.max()))
    y_packed = np.zeros((len(reduced), n_rows.max()))
    for p, (r, (_, labels)) in enumerate(zip(reduced, checked)):
        Z_packed[p, : n_rows[p], : n_cols[p]] = r.design
        y_packed[p, : n_rows[p]] = labels

    coefficients, intercepts, iterations, converged = _newton_batch(
        Z_packed, y_packed, n_rows, n_cols, float(C), int(max_iter)
    )

    models = []
    for p, r in enumerate(reduced):
        beta = coefficients[p, : n_cols[p]]
        weights = beta if r.to_features is None else r.standardised.T @ (r.to_features @ beta)
        coef = weights / r.scale
        intercept = float(intercepts[p] - r.mean @ coef)
        models.append(ProbeModel(coef, intercept, int(iterations[p]), bool(converged[p])))
    return models
