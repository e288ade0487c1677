"""Cosine kNN distance against scikit-learn's NearestNeighbors."""

import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from asdfeat.errors import ScoringError
from asdfeat.scoring import knn_scores


@pytest.mark.parametrize("k", [1, 3, 10])
def test_knn_matches_sklearn(k):
    rng = np.random.default_rng(k)
    train = rng.normal(size=(200, 16))
    test = rng.normal(size=(50, 16))
    distances, _ = NearestNeighbors(n_neighbors=k, metric="cosine").fit(train).kneighbors(test)
    np.testing.assert_allclose(knn_scores(train, test, k=k), distances.mean(axis=1), rtol=1e-9, atol=1e-12)


def test_knn_training_clip_scores_zero():
    rng = np.random.default_rng(0)
    train = rng.normal(size=(20, 8))
    assert knn_scores(train, train[:5] * 3.0) == pytest.approx(np.zeros(5), abs=1e-12)


def test_knn_rejects_bad_input():
    train = np.ones((5, 3))
    with pytest.raises(ScoringError, match="all zeros"):
        knn_scores(train, np.zeros((2, 3)), test_paths=["a.wav", "b.wav"])
    with pytest.raises(ScoringError, match="k must be"):
        knn_scores(train, train, k=6)
    with pytest.raises(ScoringError, match="dimensions"):
        knn_scores(train, np.ones((2, 4)))
    with pytest.raises(ScoringError, match="'b.wav'"):
        knn_scores(train, np.array([[1.0, 1, 1], [np.nan, 1, 1]]), test_paths=["a.wav", "b.wav"])
