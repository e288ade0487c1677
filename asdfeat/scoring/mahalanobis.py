"""Mahalanobis-distance scoring with a shrinkage fallback.

The model is fitted in float64 on the normal training clips of one machine
type. The empirical covariance is used when it is well conditioned.
Otherwise a shrinkage estimate replaces it, and the model records which
estimator it used and why:

* ``n_train <= d``: the empirical covariance is singular.
* A feature never varied in training (its maximum equals its minimum).
  ``scikit-learn``'s pseudo-inverse gives such a feature zero weight, so a
  test clip that moves along it keeps distance 0 and the anomaly is
  invisible. The shrinkage target (``trace(S) / d`` times the identity)
  gives the feature a small positive variance instead, so any deviation
  along it adds a large distance.
* Cholesky factorisation fails, or LAPACK's 1-norm estimate of the
  condition number of the correlation matrix exceeds ``max_condition``.
  The correlation matrix is used because the distance does not depend on
  the scale of each feature, so only correlation structure can make the
  solve inaccurate.

Distances use a triangular solve with the Cholesky factor, never an explicit
inverse.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from asdfeat.errors import ScoringError, ShrinkageWarning
from asdfeat.scoring.validation import as_embedding_matrix, check_same_width, describe_key

SHRINKAGE_ESTIMATORS = ("ledoit-wolf", "oas")

# Above this condition number a float64 Cholesky solve keeps fewer than
# about 8 significant digits, which is where distances start to drift.
DEFAULT_MAX_CONDITION = 1e8


@dataclass(frozen=True)
class MahalanobisModel:
    """Gaussian model of normal embeddings that scores squared Mahalanobis distances.

    Attributes
    ----------
    location : numpy.ndarray of shape (d,)
        Mean of the training embeddings.
    scale : numpy.ndarray of shape (d,)
        Per-feature standard deviation of the chosen covariance estimate.
    cholesky : numpy.ndarray of shape (d, d)
        Lower Cholesky factor ``L`` of the covariance rescaled to unit
        diagonal, so ``covariance = diag(scale) @ L @ L.T @ diag(scale)``.
    estimator : str
        ``"empirical"``, ``"ledoit-wolf"`` or ``"oas"``.
    shrinkage : float
        Shrinkage coefficient in [0, 1]; 0 for the empirical estimate.
    reason : str or None
        Why the empirical estimate was replaced, or None.
    condition_number : float
        LAPACK's 1-norm condition estimate of the unit-diagonal covariance
        that was factorised (NaN when the factorisation was skipped).
    n_train : int
        Number of training clips.
    """

    location: np.ndarray
    scale: np.ndarray
    cholesky: np.ndarray
    estimator: str
    shrinkage: float
    reason: str | None
    condition_number: float
    n_train: int

    @property
    def covariance(self) -> np.ndarray:
        """Covariance matrix of shape (d, d) that the distances use."""
        correlation = self.cholesky @ self.cholesky.T
        return correlation * np.outer(self.scale, self.scale)

    def score(self, X, *, key: Hashable | None = None, paths=None) -> np.ndarray:
        """Compute squared Mahalanobis distances of test embeddings.

        Parameters
        ----------
        X : array_like of shape (m, d)
            Test embeddings.
        key, paths : optional
            Cell key and clip paths of the rows, named in error messages.

        Returns
        -------
        numpy.ndarray of shape (m,), dtype float64
            ``(x - location)^T covariance^-1 (x - location)`` per row.
        """
        test = as_embedding_matrix(X, "test", key=key, paths=paths)
        if test.shape[1] != self.location.shape[0]:
            raise ScoringError(
                f"{describe_key(key)}test embeddings have {test.shape[1]} dimensions but the model "
                f"was fitted on {self.location.shape[0]}"
            )
        standardised = (test - self.location) / self.scale
        whitened = scipy.linalg.solve_triangular(
            self.cholesky, standardised.T, lower=True, check_finite=False
        )
        return np.einsum("ij,ij->j", whitened, whitened)


def ledoit_wolf_shrinkage(centered: np.ndarray, covariance: np.ndarray) -> float:
    """Return the Ledoit-Wolf shrinkage coefficient, as scikit-learn 1.9 computes it.

    Parameters
    ----------
    centered : numpy.ndarray of shape (n, d)
        Training embeddings minus their mean.
    covariance : numpy.ndarray of shape (d, d)
        Empirical covariance ``centered.T @ centered / n``.
    """
    n, d = centered.shape
    variances = np.diagonal(covariance)
    mu = variances.sum() / d

    # sum(X2.T @ X2) equals the sum over clips of the squared row norm squared.
    squared_row_norms = np.einsum("ij,ij->i", centered, centered)
    beta_sum = float(np.sum(squared_row_norms**2))
    delta_sum = float(np.sum(covariance**2))

    beta = (beta_sum / n - delta_sum) / (d * n)
    delta = (delta_sum - 2.0 * mu * variances.sum() + d * mu**2) / d
    beta = min(beta, delta)
    return 0.0 if beta == 0 else beta / delta


def oas_shrinkage(n: int, covariance: np.ndarray) -> float:
    """Return the Oracle Approximating Shrinkage coefficient, as scikit-learn 1.9 computes it."""
    d = covariance.shape[0]
    alpha = float(np.mean(covariance**2))
    mu = float(np.trace(covariance)) / d
    numerator = alpha + mu**2
    denominator = (n + 1) * (alpha - mu**2 / d)
    return 1.0 if denominator == 0 else min(numerator / denominator, 1.0)


def _factor_unit_diagonal(covariance: np.ndarray, scale: np.ndarray):
    """Return (Cholesky factor, condition estimate) of the rescaled covariance, or (None, nan)."""
    correlation = covariance / np.outer(scale, scale)
    # NOTE: one BLAS thread, because OpenBLAS 0.3.30's threaded Cholesky took
    # 1.1 s against 0.14 s single-threaded for d=2048 on a shared 2-core VM.
    # Machines with many idle cores may lose a little here.
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            factor = scipy.linalg.cholesky(correlation, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None, float("nan")

    one_norm = float(np.abs(correlation).sum(axis=0).max())
    reciprocal, info = lapack.dpocon(factor, one_norm, uplo="L")
    condition = float("inf") if info != 0 or reciprocal == 0 else 1.0 / reciprocal
    return factor, condition


def _constant_feature_reason(constant: np.ndarray) -> str:
    indices = np.flatnonzero(constant)
    listed = ", ".join(str(i) for i in indices[:10])
    more = f", ... ({indices.size} in total)" if indices.size > 10 else ""
    return f"features constant in training: [{listed}{more}]"


def fit_md(
    train,
    *,
    shrinkage: str = "ledoit-wolf",
    max_condition: float = DEFAULT_MAX_CONDITION,
    force_shrinkage: bool = False,
    key: Hashable | None = None,
    paths=None,
) -> MahalanobisModel:
    """Fit a Mahalanobis-distance model on normal training embeddings.

    Parameters
    ----------
    train : array_like of shape (n, d)
        Normal training embeddings; any float dtype, accumulated in float64.
    shrinkage : {"ledoit-wolf", "oas"}, default "ledoit-wolf"
        Shrinkage estimator used when the empirical covariance is singular or
        ill-conditioned (see the module docstring for the rules).
    max_condition : float, default 1e8
        Largest accepted condition number of the empirical correlation matrix.
    force_shrinkage : bool, default False
        Use the shrinkage estimator even when the empirical one is usable.
    key, paths : optional
        Cell key and training clip paths, named in error messages.

    Returns
    -------
    MahalanobisModel

    Raises
    ------
    ScoringError
        On non-finite embeddings, fewer than 2 clips, an unknown estimator,
        or when every feature is constant in training.

    Warns
    -----
    ShrinkageWarning
        When the empirical covariance was replaced (not when forced).
    """
    if shrinkage not in SHRINKAGE_ESTIMATORS:
        raise ScoringError(f"unknown shrinkage estimator {shrinkage!r}; choose one of {SHRINKAGE_ESTIMATORS}")
    if not max_condition > 1:
        raise ScoringError(f"max_condition must be greater than 1, got {max_condition}")
    X = as_embedding_matrix(train, "train", key=key, paths=paths, keep_float32=True)
    n, d = X.shape
    if n < 2:
        raise ScoringError(f"{describe_key(key)}Mahalanobis distance needs at least 2 training clips, got {n}")

    # Casting inside the subtraction centres float32 input in float64
    # without a separate full-size copy.
    location = X.mean(axis=0, dtype=np.float64)
    centered = np.subtract(X, location, dtype=np.float64)
    covariance = centered.T @ centered
    covariance /= n
    constant = X.max(axis=0) == X.min(axis=0)
    if constant.all():
        raise ScoringError(
            f"{describe_key(key)}every one of the {d} features is constant in training; "
            "the embeddings carry no information (check the extractor output)"
        )

    reason, condition = None, float("nan")
    if n <= d:
        reason = f"n_train={n} <= d={d}"
    elif constant.any():
        reason = _constant_feature_reason(constant)
    else:
        scale = np.sqrt(np.diagonal(covariance))
        factor, condition = _factor_unit_diagonal(covariance, scale)
        if factor is None:
            reason = "empirical covariance is not positive definite"
        elif condition > max_condition:
            reason = f"condition number {condition:.1e} exceeds {max_condition:.0e}"
        elif not force_shrinkage:
            return MahalanobisModel(location, scale, factor, "empirical", 0.0, None, condition, n)

    if reason is not None:
        message = f"{describe_key(key)}falling back to {shrinkage} shrinkage: {reason}"
        warnings.warn(message, ShrinkageWarning, stacklevel=2)
    return _fit_shrunk(location, centered, covariance, shrinkage, reason, key)


def _fit_shrunk(location, centered, covariance, shrinkage, reason, key) -> MahalanobisModel:
    n, d = centered.shape
    if shrinkage == "ledoit-wolf":
        coefficient = ledoit_wolf_shrinkage(centered, covariance)
    else:
        coefficient = oas_shrinkage(n, covariance)

    mu = np.trace(covariance) / d
    shrunk = (1.0 - coefficient) * covariance
    shrunk.flat[:: d + 1] += coefficient * mu
    scale = np.sqrt(np.diagonal(shrunk))
    if coefficient == 0 or not (scale > 0).all():
        # NOTE: reachable only when every clip deviates from the mean in the
        # same way; a zero shrinkage leaves constant features with no variance.
        raise ScoringError(
            f"{describe_key(key)}{shrinkage} shrinkage coefficient is {coefficient}, so the covariance "
            f"stays singular ({reason}); drop constant features or add training clips"
        )

    factor, condition = _factor_unit_diagonal(shrunk, scale)
    if factor is None:
        raise ScoringError(
            f"{describe_key(key)}{shrinkage} covariance is not positive definite ({reason}); "
            "drop collinear features or add training clips"
        )
    return MahalanobisModel(location, scale, factor, shrinkage, float(coefficient), reason, condition, n)
