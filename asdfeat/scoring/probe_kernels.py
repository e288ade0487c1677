"""Numba Newton solvers for the L2-regularised logistic-regression probe.

Both solvers minimise ``C * sum_i logloss(y_i, f_i) + ||w||^2 / 2`` with an
unpenalised intercept ``b``, where ``f = X w + b`` on standardised features.

* :func:`newton_primal_batch` works on the design itself (for folds with at
  least as many clips as dimensions): one Newton system of size d + 1.
* :func:`newton_dual_batch` works on the Gram matrix ``K = X X^T`` (for
  folds with fewer clips than dimensions). At the optimum ``w = X^T a``, so
  ``f = K a + b`` and the penalty is ``a^T K a / 2``. With
  ``B = I + W^(1/2) K W^(1/2)`` (W the logistic weights times C), the
  identity ``(W K + I)^-1 = I - W^(1/2) B^-1 W^(1/2) K`` turns each Newton
  step into one n x n Cholesky factorisation, and the intercept comes from
  the Schur complement. This costs O(n^3) per step instead of O(n d^2).

Newton steps use Armijo backtracking, and each solver takes one more full
step after the Newton decrement falls below ``1e-12 * (1 + objective)``, so
the result is converged to about machine precision. The objective is
strictly convex in ``f`` and the penalised weights, so separable folds still
give a finite solution.
"""

import numba
import numpy as np


@numba.njit(cache=True)
def _log1pexp(z):
    if z > 0:
        return z + np.log1p(np.exp(-z))
    return np.log1p(np.exp(z))


@numba.njit(cache=True)
def _primal_objective(design, y, theta, C):
    z = design @ theta
    loss = 0.0
    for i in range(z.shape[0]):
        loss += _log1pexp(z[i]) - y[i] * z[i]
    penalty = 0.0
    for j in range(theta.shape[0] - 1):
        penalty += theta[j] * theta[j]
    return C * loss + 0.5 * penalty


@numba.njit(cache=True)
def _triangular_solves(lower, rhs):
    """Solve ``lower @ lower.T @ x = rhs`` for a lower-triangular Cholesky factor."""
    size = rhs.shape[0]
    forward = np.empty(size)
    for i in range(size):
        total = rhs[i]
        for j in range(i):
            total -= lower[i, j] * forward[j]
        forward[i] = total / lower[i, i]
    solution = np.empty(size)
    for i in range(size - 1, -1, -1):
        total = forward[i]
        for j in range(i + 1, size):
            total -= lower[j, i] * solution[j]
        solution[i] = total / lower[i, i]
    return solution


@numba.njit(cache=True)
def newton_primal(Z, y, C, max_iter):
    """Minimise the probe objective on design ``Z`` (n x r); returns (beta, intercept, iterations, converged)."""
    n, r = Z.shape
    # The last column of the design is the intercept, which is not penalised.
    design = np.ones((n, r + 1))
    design[:, :r] = Z
    theta = np.zeros(r + 1)
    objective = _primal_objective(design, y, theta, C)

    for iteration in range(1, max_iter + 1):
        prob = 1.0 / (1.0 + np.exp(-(design @ theta)))
        gradient = C * (design.T @ (prob - y))
        gradient[:r] += theta[:r]

        root_weights = np.sqrt(C * prob * (1.0 - prob))
        weighted = design * root_weights.reshape((n, 1))
        hessian = weighted.T @ weighted
        for j in range(r):
            hessian[j, j] += 1.0
        # A tiny ridge on the intercept keeps the factorisation defined when
        # every probability has saturated.
        hessian[r, r] += 1e-12

        step = _triangular_solves(np.linalg.cholesky(hessian), gradient)
        decrement = gradient @ step
        small = decrement <= 1e-12 * (1.0 + abs(objective))

        # Backtracking (Armijo) line search along the Newton direction.
        t = 1.0
        while True:
            candidate = theta - t * step
            candidate_objective = _primal_objective(design, y, candidate, C)
            if candidate_objective <= objective - 0.25 * t * decrement or t < 1e-10:
                break
            t *= 0.5
        if candidate_objective <= objective:
            theta, objective = candidate, candidate_objective
        if small:
            return theta[:r], theta[r], iteration, True
    return theta[:r], theta[r], max_iter, False


@numba.njit(cache=True)
def newton_primal_batch(Z_packed, y_packed, n_rows, n_cols, C, max_iter):
    """Fit every packed problem; returns (coefficients, intercepts, iterations, converged)."""
    n_problems = Z_packed.shape[0]
    coefficients = np.zeros((n_problems, Z_packed.shape[2]))
    intercepts = np.zeros(n_problems)
    iterations = np.zeros(n_problems, dtype=np.int64)
    converged = np.zeros(n_problems, dtype=np.bool_)
    for p in range(n_problems):
        Z = np.ascontiguousarray(Z_packed[p, : n_rows[p], : n_cols[p]])
        y = np.ascontiguousarray(y_packed[p, : n_rows[p]])
        beta, intercept, n_iter, ok = newton_primal(Z, y, C, max_iter)
        coefficients[p, : n_cols[p]] = beta
        intercepts[p] = intercept
        iterations[p] = n_iter
        converged[p] = ok
    return coefficients, intercepts, iterations, converged


@numba.njit(cache=True)
def _dual_objective(Ka, a, b, y, C):
    loss = 0.0
    for i in range(y.shape[0]):
        f = Ka[i] + b
        loss += _log1pexp(f) - y[i] * f
    return C * loss + 0.5 * (a @ Ka)


@numba.njit(cache=True)
def _apply_inverse(K, lower, root_weights, v):
    """Return ``(W K + I)^-1 v`` from the Cholesky factor of ``B``."""
    inner = root_weights * (K @ v)
    return v - root_weights * _triangular_solves(lower, inner)


@numba.njit(cache=True)
def newton_dual(K, y, C, max_iter):
    """Minimise the probe objective in dual form; returns (a, intercept, iterations, converged)."""
    n = K.shape[0]
    a = np.zeros(n)
    Ka = np.zeros(n)
    b = 0.0
    objective = _dual_objective(Ka, a, b, y, C)

    for iteration in range(1, max_iter + 1):
        prob = 1.0 / (1.0 + np.exp(-(Ka + b)))
        residual = prob - y
        weights = C * prob * (1.0 - prob)
        q = C * residual + a
        gradient_b = C * residual.sum()

        root_weights = np.sqrt(weights)
        B = K * root_weights.reshape((n, 1)) * root_weights.reshape((1, n))
        for i in range(n):
            B[i, i] += 1.0
        lower = np.linalg.cholesky(B)

        # Eliminate the intercept through its Schur complement.
        solved_q = _apply_inverse(K, lower, root_weights, q)
        solved_w = _apply_inverse(K, lower, root_weights, weights)
        K_solved_q = K @ solved_q
        K_solved_w = K @ solved_w
        schur = weights.sum() - weights @ K_solved_w + 1e-12
        step_b = (gradient_b - weights @ K_solved_q) / schur
        step_a = solved_q - step_b * solved_w
        K_step_a = K_solved_q - step_b * K_solved_w

        decrement = q @ K_step_a + gradient_b * step_b
        small = decrement <= 1e-12 * (1.0 + abs(objective))

        t = 1.0
        while True:
            candidate_a = a - t * step_a
            candidate_Ka = Ka - t * K_step_a
            candidate_b = b - t * step_b
            candidate_objective = _dual_objective(candidate_Ka, candidate_a, candidate_b, y, C)
            if candidate_objective <= objective - 0.25 * t * decrement or t < 1e-10:
                break
            t *= 0.5
        if candidate_objective <= objective:
            a, Ka, b, objective = candidate_a, candidate_Ka, candidate_b, candidate_objective
        if small:
            return a, b, iteration, True
    return a, b, max_iter, False


@numba.njit(cache=True)
def newton_dual_batch(K_packed, y_packed, n_rows, C, max_iter):
    """Fit every packed Gram matrix; returns (dual coefficients, intercepts, iterations, converged)."""
    n_problems = K_packed.shape[0]
    coefficients = np.zeros((n_problems, K_packed.shape[1]))
    intercepts = np.zeros(n_problems)
    iterations = np.zeros(n_problems, dtype=np.int64)
    converged = np.zeros(n_problems, dtype=np.bool_)
    for p in range(n_problems):
        n = n_rows[p]
        K = np.ascontiguousarray(K_packed[p, :n, :n])
        y = np.ascontiguousarray(y_packed[p, :n])
        a, b, n_iter, ok = newton_dual(K, y, C, max_iter)
        coefficients[p, :n] = a
        intercepts[p] = b
        iterations[p] = n_iter
        converged[p] = ok
    return coefficients, intercepts, iterations, converged
