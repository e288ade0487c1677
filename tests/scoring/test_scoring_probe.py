"""Logistic-regression probes against scikit-learn's LogisticRegression."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from asdfeat.errors import ScoringError
from asdfeat.scoring import fit_probes


def _problem(rng, n, d, shift):
    labels = rng.integers(0, 2, n).astype(bool)
    features = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, d) + rng.normal(size=d)
    features[labels, :4] += shift
    return features, labels


def _reference(features, labels, C):
    # Newton-Cholesky with a tight tolerance reaches the optimum of the same objective.
    classifier = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=500)
    return make_pipeline(StandardScaler(), classifier).fit(features, labels)


@pytest.mark.parametrize("C", [0.01, 1.0, 100.0])
def test_probes_match_sklearn(C):
    rng = np.random.default_rng(int(C * 100))
    shapes = [(120, 300), (200, 40), (60, 60), (90, 500)]
    problems = [_problem(rng, n, d, shift=0.8) for n, d in shapes]
    models = fit_probes(problems, C=C)
    for (features, labels), model, (n, d) in zip(problems, models, shapes):
        test, test_labels = _problem(rng, 150, d, shift=0.8)
        reference = _reference(features, labels, C)
        assert model.converged
        np.testing.assert_allclose(
            model.decision_function(test), reference.decision_function(test), rtol=1e-6, atol=1e-6
        )
        expected_auc = roc_auc_score(test_labels, reference.predict_proba(test)[:, 1])
        assert roc_auc_score(test_labels, model.predict_proba(test)) == pytest.approx(expected_auc, abs=1e-9)


def test_separable_fold_has_finite_solution():
    rng = np.random.default_rng(7)
    features, labels = _problem(rng, 80, 200, shift=50.0)
    model = fit_probes([(features, labels)])[0]
    assert model.converged
    assert np.isfinite(model.coef).all()
    assert np.isfinite(model.intercept)
    reference = _reference(features, labels, 1.0)
    np.testing.assert_allclose(model.decision_function(features), reference.decision_function(features), rtol=1e-6)


def test_constant_feature_is_ignored_like_standard_scaler():
    rng = np.random.default_rng(8)
    features, labels = _problem(rng, 100, 10, shift=1.0)
    features[:, 5] = 3.0
    model = fit_probes([(features, labels)])[0]
    reference = _reference(features, labels, 1.0)
    np.testing.assert_allclose(model.decision_function(features), reference.decision_function(features), rtol=1e-6, atol=1e-9)


def test_probe_rejects_bad_problems():
    rng = np.random.default_rng(9)
    features = rng.normal(size=(10, 3))
    with pytest.raises(ScoringError, match="same label"):
        fit_probes([(features, np.zeros(10))])
    with pytest.raises(ScoringError, match="problem 1"):
        fit_probes([(features, np.arange(10) % 2), (features, np.zeros(9))])
    with pytest.raises(ScoringError, match="C must be positive"):
        fit_probes([(features, np.arange(10) % 2)], C=0.0)
    assert fit_probes([]) == []
