"""Mahalanobis model against scikit-learn's covariance estimators."""

import numpy as np
import pytest
from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf

from asdfeat.errors import ScoringError, ShrinkageWarning
from asdfeat.scoring import fit_md

REFERENCES = {"ledoit-wolf": LedoitWolf, "oas": OAS}


def _correlated(rng, n, d):
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d) * 5


def test_empirical_matches_sklearn():
    rng = np.random.default_rng(0)
    train = _correlated(rng, 500, 24)
    test = rng.normal(size=(40, 24)) * 4
    model = fit_md(train)
    assert model.estimator == "empirical"
    assert model.reason is None
    expected = EmpiricalCovariance().fit(train).mahalanobis(test)
    np.testing.assert_allclose(model.score(test), expected, rtol=1e-6)


@pytest.mark.filterwarnings("ignore::asdfeat.errors.ShrinkageWarning")
@pytest.mark.parametrize("estimator", ["ledoit-wolf", "oas"])
@pytest.mark.parametrize("n, d", [(300, 20), (40, 64), (10, 200)])
def test_forced_shrinkage_matches_sklearn(estimator, n, d):
    rng = np.random.default_rng(n + d)
    train = _correlated(rng, n, d)
    test = rng.normal(size=(30, d))
    model = fit_md(train, shrinkage=estimator, force_shrinkage=True)
    reference = REFERENCES[estimator]().fit(train)
    assert model.estimator == estimator
    assert model.shrinkage == pytest.approx(reference.shrinkage_, rel=1e-9)
    np.testing.assert_allclose(model.score(test), reference.mahalanobis(test), rtol=1e-6)
    np.testing.assert_allclose(model.covariance, reference.covariance_, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("estimator", ["ledoit-wolf", "oas"])
def test_fallback_when_n_not_above_d(estimator):
    rng = np.random.default_rng(1)
    train = rng.normal(size=(40, 64))
    test = rng.normal(size=(10, 64))
    with pytest.warns(ShrinkageWarning, match="n_train=40 <= d=64"):
        model = fit_md(train, shrinkage=estimator)
    assert model.estimator == estimator
    assert model.reason == "n_train=40 <= d=64"
    np.testing.assert_allclose(model.score(test), REFERENCES[estimator]().fit(train).mahalanobis(test), rtol=1e-6)


def test_fallback_on_ill_conditioned_covariance():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(400, 5))
    train = np.hstack([base, base[:, :1] + 1e-6 * rng.normal(size=(400, 1))])
    with pytest.warns(ShrinkageWarning):
        model = fit_md(train)
    assert model.estimator == "ledoit-wolf"
    assert model.reason.startswith("condition number ")
    assert model.reason.endswith("exceeds 1e+08")
    relaxed = fit_md(train, max_condition=1e16)
    assert relaxed.estimator == "empirical"


def test_constant_feature_anomaly_is_visible():
    train = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    test = np.array([[1.0, 100.0], [1.0, 0.0]])
    # scikit-learn's pseudo-inverse ignores the constant feature entirely.
    assert EmpiricalCovariance().fit(train).mahalanobis(test)[0] == pytest.approx(0.0, abs=1e-9)
    with pytest.warns(ShrinkageWarning, match=r"features constant in training: \[1\]"):
        model = fit_md(train)
    distances = model.score(test)
    assert distances[0] > 1e3
    assert distances[1] == pytest.approx(0.0, abs=1e-12)


def test_constant_features_listed_in_reason():
    rng = np.random.default_rng(3)
    train = rng.normal(size=(100, 20))
    train[:, [3, 17]] = 7.0
    with pytest.warns(ShrinkageWarning):
        model = fit_md(train)
    assert model.reason == "features constant in training: [3, 17]"
    shifted = np.tile(train.mean(axis=0), (2, 1))
    shifted[1, 17] += 1.0
    assert model.score(shifted)[1] > model.score(shifted)[0]


def test_float32_input_accumulates_in_float64():
    rng = np.random.default_rng(4)
    train = (_correlated(rng, 400, 16) + 1000).astype(np.float32)
    test = (rng.normal(size=(20, 16)) + 1000).astype(np.float32)
    model = fit_md(train)
    expected = EmpiricalCovariance().fit(train.astype(np.float64)).mahalanobis(test.astype(np.float64))
    np.testing.assert_allclose(model.score(test), expected, rtol=1e-6)


def test_bad_training_input_raises():
    rng = np.random.default_rng(5)
    train = rng.normal(size=(50, 4))
    train[7, 2] = np.nan
    with pytest.raises(ScoringError, match=r"cell \('ast', 'fan'\).*'clip7.wav'"):
        fit_md(train, key=("ast", "fan"), paths=[f"clip{i}.wav" for i in range(50)])
    with pytest.raises(ScoringError, match="every one of the 3 features is constant"):
        fit_md(np.ones((10, 3)))
    with pytest.raises(ScoringError, match="at least 2 training clips"):
        fit_md(np.ones((1, 3)))
    with pytest.raises(ScoringError, match="unknown shrinkage"):
        fit_md(rng.normal(size=(10, 3)), shrinkage="graphical-lasso")


def test_score_rejects_wrong_width_and_inf():
    rng = np.random.default_rng(6)
    model = fit_md(rng.normal(size=(100, 4)))
    with pytest.raises(ScoringError, match="4"):
        model.score(np.ones((2, 5)))
    with pytest.raises(ScoringError, match="'b.wav'"):
        model.score(np.array([[0.0, 0, 0, 0], [np.inf, 0, 0, 0]]), paths=["a.wav", "b.wav"])
