"""AUC and partial AUC against scikit-learn's roc_auc_score."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from asdfeat.errors import ScoringError
from asdfeat.scoring import partial_auc, roc_auc

MAX_FPRS = (0.01, 0.1, 0.25, 0.5, 1.0)


def _random_cases(seed: int, count: int):
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n = int(rng.integers(2, 60))
        labels = rng.integers(0, 2, n)
        if labels.min() == labels.max():
            continue
        if len(cases) % 3 == 0:
            scores = rng.integers(0, 4, n).astype(float)  # many ties
        elif len(cases) % 3 == 1:
            scores = rng.normal(size=n)
        else:
            scores = np.round(rng.normal(size=n), 1)
        cases.append((labels, scores))
    return cases


def test_roc_auc_matches_sklearn_random():
    for labels, scores in _random_cases(0, 300):
        assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("max_fpr", MAX_FPRS)
def test_partial_auc_matches_sklearn(max_fpr):
    reference_max_fpr = None if max_fpr == 1.0 else max_fpr
    for labels, scores in _random_cases(1, 200):
        expected = roc_auc_score(labels, scores, max_fpr=reference_max_fpr)
        assert partial_auc(labels, scores, max_fpr) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    "labels, scores",
    [
        ([0, 1], [0.0, 0.0]),
        ([0, 1], [1.0, 0.0]),
        ([1, 0], [1.0, 0.0]),
        ([0, 0, 1], [5.0, 5.0, 5.0]),
        ([True, False, True, False], [0.3, 0.3, 0.9, -1e300]),
        ([0, 1, 0, 1, 1], [1e308, -1e308, 0.0, 0.0, 1e-300]),
    ],
)
def test_auc_adversarial_inputs(labels, scores):
    for max_fpr in MAX_FPRS:
        reference_max_fpr = None if max_fpr == 1.0 else max_fpr
        expected = roc_auc_score(labels, scores, max_fpr=reference_max_fpr)
        assert partial_auc(labels, scores, max_fpr) == pytest.approx(expected, abs=1e-12)


def test_all_equal_scores_give_chance():
    labels = np.array([0, 1] * 50)
    scores = np.full(100, 3.0)
    assert roc_auc(labels, scores) == 0.5
    assert partial_auc(labels, scores, 0.1) == pytest.approx(roc_auc_score(labels, scores, max_fpr=0.1))


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1], [True]])
def test_single_class_raises(labels):
    with pytest.raises(ScoringError, match="single class"):
        roc_auc(labels, np.zeros(len(labels)))
    with pytest.raises(ScoringError, match="single class"):
        partial_auc(labels, np.zeros(len(labels)))


def test_invalid_inputs_raise():
    with pytest.raises(ScoringError, match="differ in length"):
        roc_auc([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ScoringError, match="not finite"):
        roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ScoringError, match="0/1"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ScoringError, match="max_fpr"):
        partial_auc([0, 1], [0.1, 0.2], max_fpr=0.0)
    with pytest.raises(ScoringError, match="max_fpr"):
        partial_auc([0, 1], [0.1, 0.2], max_fpr=1.5)
