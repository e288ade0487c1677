"""Protocols on synthetic cells, checked against scikit-learn pipelines."""

import numpy as np
import pytest
from sklearn.covariance import EmpiricalCovariance, LedoitWolf
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from asdfeat.errors import ScoringError
from asdfeat.scoring import PROTOCOLS, Cell, run_protocol, run_protocols, split_in_domain

KEY = ("beats", "dcase2022", "fan")


def make_cell(seed=0, d=12, n_sections=3, per_group=20, n_train=300, key=KEY):
    rng = np.random.default_rng(seed)
    section = np.repeat([f"{i:02d}" for i in range(n_sections)], 2 * per_group)
    label = np.tile(np.repeat([False, True], per_group), n_sections)
    domain = np.tile(np.where(np.arange(per_group) % 2 == 0, "source", "target"), 2 * n_sections)
    evaluation = rng.normal(size=(section.size, d))
    evaluation[label, :2] += 1.0
    train = rng.normal(size=(n_train, d))
    train_domain = np.where(np.arange(n_train) % 10 == 0, "target", "source")
    paths = np.array([f"section_{s}_clip_{i:04d}.wav" for i, s in enumerate(section)])
    return Cell(key, train, train_domain, evaluation, label, section, domain, paths)


def _sklearn_probe(features, labels):
    classifier = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12, max_iter=500)
    return make_pipeline(StandardScaler(), classifier).fit(features, labels)


def test_protocols_constant():
    assert PROTOCOLS == ("md", "lp-in", "lp-out", "knn", "md-domain")


def test_md_auc_matches_sklearn():
    cell = make_cell()
    result = run_protocol(cell, "md")
    expected_scores = EmpiricalCovariance().fit(cell.train).mahalanobis(cell.eval)
    np.testing.assert_allclose(result.scores, expected_scores, rtol=1e-6)
    assert result.auc == pytest.approx(roc_auc_score(cell.eval_label, expected_scores), abs=1e-12)
    assert result.info["estimator"] == "empirical"
    rows = cell.eval_section == "01"
    expected_section = roc_auc_score(cell.eval_label[rows], expected_scores[rows])
    assert result.per_section_auc["01"] == pytest.approx(expected_section, abs=1e-12)


def test_md_fallback_is_noted():
    cell = make_cell(d=40, n_train=30)
    result = run_protocol(cell, "md", shrinkage="oas")
    assert result.info["estimator"] == "oas"
    assert result.notes == ["md: oas shrinkage used because n_train=30 <= d=40"]


def test_split_in_domain_is_stratified_and_seeded():
    cell = make_cell(per_group=21)
    train, test = split_in_domain(cell.eval_section, cell.eval_label, cell.eval_path, seed=3)
    assert np.intersect1d(train, test).size == 0
    assert train.size + test.size == cell.eval_label.size
    for section in ("00", "01", "02"):
        for label in (False, True):
            in_group = (cell.eval_section == section) & (cell.eval_label == label)
            assert in_group[train].sum() == 10
            assert in_group[test].sum() == 11
    again, _ = split_in_domain(cell.eval_section, cell.eval_label, cell.eval_path, seed=3)
    np.testing.assert_array_equal(train, again)
    other, _ = split_in_domain(cell.eval_section, cell.eval_label, cell.eval_path, seed=4)
    assert not np.array_equal(train, other)


def test_split_in_domain_ignores_row_order():
    cell = make_cell()
    order = np.random.default_rng(1).permutation(cell.eval_label.size)
    train, _ = split_in_domain(cell.eval_section, cell.eval_label, cell.eval_path, seed=0)
    shuffled, _ = split_in_domain(cell.eval_section[order], cell.eval_label[order], cell.eval_path[order], seed=0)
    assert set(cell.eval_path[train]) == set(cell.eval_path[order][shuffled])


def test_lp_in_matches_sklearn_on_same_split():
    cell = make_cell(d=80)
    result = run_protocol(cell, "lp-in", seed=5)
    train, test = split_in_domain(cell.eval_section, cell.eval_label, cell.eval_path, seed=5)
    reference = _sklearn_probe(cell.eval[train], cell.eval_label[train])
    expected = roc_auc_score(cell.eval_label[test], reference.predict_proba(cell.eval[test])[:, 1])
    assert result.auc == pytest.approx(expected, abs=1e-9)
    assert np.isnan(result.scores[train]).all()
    assert not np.isnan(result.scores[test]).any()
    assert result.info["seed"] == 5


def test_lp_out_matches_sklearn_leave_one_section_out():
    cell = make_cell(d=80)
    result = run_protocol(cell, "lp-out")
    aucs = []
    for section in ("00", "01", "02"):
        held_out = cell.eval_section == section
        reference = _sklearn_probe(cell.eval[~held_out], cell.eval_label[~held_out])
        auc = roc_auc_score(cell.eval_label[held_out], reference.predict_proba(cell.eval[held_out])[:, 1])
        assert result.per_section_auc[section] == pytest.approx(auc, abs=1e-9)
        aucs.append(auc)
    assert result.auc == pytest.approx(np.mean(aucs), abs=1e-9)
    assert not np.isnan(result.scores).any()


def test_lp_out_single_section_is_nan_with_note():
    result = run_protocol(make_cell(n_sections=1), "lp-out")
    assert np.isnan(result.auc)
    assert np.isnan(result.scores).all()
    assert result.notes == ["lp-out: undefined with a single section ('00'); needs at least 2"]


def test_lp_out_skips_one_class_section():
    cell = make_cell()
    cell.eval_label = cell.eval_label & (cell.eval_section != "02")
    result = run_protocol(cell, "lp-out")
    assert "02" not in result.per_section_auc
    assert any("fold '02' skipped" in note for note in result.notes)
    assert np.isfinite(result.auc)


def test_knn_and_md_domain_match_sklearn():
    cell = make_cell(d=40)
    knn = run_protocol(cell, "knn", k=3)
    distances, _ = NearestNeighbors(n_neighbors=3, metric="cosine").fit(cell.train).kneighbors(cell.eval)
    np.testing.assert_allclose(knn.scores, distances.mean(axis=1), rtol=1e-9)

    per_domain = run_protocol(cell, "md-domain")
    source = EmpiricalCovariance().fit(cell.train[cell.train_domain == "source"]).mahalanobis(cell.eval)
    target = LedoitWolf().fit(cell.train[cell.train_domain == "target"]).mahalanobis(cell.eval)
    np.testing.assert_allclose(per_domain.scores, np.minimum(source, target), rtol=1e-6)
    assert per_domain.info["domains"]["target"]["estimator"] == "ledoit-wolf"


def test_md_domain_falls_back_with_few_clips():
    cell = make_cell(n_train=50)
    result = run_protocol(cell, "md-domain", min_domain_clips=10)
    assert any("domain 'target' has 5 training clips" in note for note in result.notes)
    source = EmpiricalCovariance().fit(cell.train[cell.train_domain == "source"]).mahalanobis(cell.eval)
    np.testing.assert_allclose(result.scores, source, rtol=1e-6)


def test_single_class_eval_gives_nan_with_note():
    cell = make_cell()
    cell.eval_label = np.zeros_like(cell.eval_label)
    for protocol in ("md", "knn", "md-domain", "lp-in", "lp-out"):
        result = run_protocol(cell, protocol)
        assert np.isnan(result.auc), protocol
        assert result.notes, protocol


def test_run_protocols_equals_single_runs():
    cells = [make_cell(seed=s, key=("m", s)) for s in range(3)]
    for protocol in PROTOCOLS:
        batched = run_protocols(cells, protocol)
        for cell, result in zip(cells, batched):
            single = run_protocol(cell, protocol)
            assert result.key == cell.key
            assert result.protocol == protocol
            np.testing.assert_array_equal(result.scores, single.scores)


def test_nan_embedding_names_cell_and_clip():
    cell = make_cell()
    cell.eval = cell.eval.copy()
    cell.eval[17, 3] = np.nan
    with pytest.raises(ScoringError, match=r"cell \('beats', 'dcase2022', 'fan'\).*section_00_clip_0017.wav"):
        run_protocol(cell, "md")


def test_infinite_training_embedding_names_cell():
    cell = make_cell()
    cell.train = cell.train.copy()
    cell.train[4, 0] = np.inf
    cell.train_path = np.array([f"train_{i}.wav" for i in range(cell.train.shape[0])])
    with pytest.raises(ScoringError, match=r"'fan'\).*train_4.wav"):
        run_protocol(cell, "knn")


def test_mismatched_lengths_raise():
    cell = make_cell()
    cell.eval_section = cell.eval_section[:-1]
    with pytest.raises(ScoringError, match="eval_section has 119 entries but there are 120"):
        run_protocol(cell, "md")
    cell = make_cell()
    cell.train_domain = cell.train_domain[:5]
    with pytest.raises(ScoringError, match="train_domain has 5 entries"):
        run_protocol(cell, "md-domain")
    cell = make_cell()
    cell.eval = cell.eval[:, :5]
    with pytest.raises(ScoringError, match="12 dimensions"):
        run_protocol(cell, "md")


def test_invalid_options_raise():
    cell = make_cell()
    with pytest.raises(ScoringError, match="unknown protocol"):
        run_protocol(cell, "svm")
    with pytest.raises(ScoringError, match="C must be positive"):
        run_protocol(cell, "lp-in", C=-1.0)
    with pytest.raises(ScoringError, match="k must be"):
        run_protocol(cell, "knn", k=0)
    with pytest.raises(ScoringError, match="unknown shrinkage"):
        run_protocol(cell, "md", shrinkage="mcd")
