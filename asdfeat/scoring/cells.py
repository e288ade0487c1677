"""Cell and result containers shared by the scoring protocols, with input checks."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from asdfeat.errors import ScoringError
from asdfeat.scoring.auc import roc_auc
from asdfeat.scoring.validation import (
    as_embedding_matrix,
    as_labels,
    as_vector,
    check_same_width,
    describe_key,
)

PROTOCOLS = ("md", "lp-in", "lp-out", "knn", "md-domain")


@dataclass
class Cell:
    """Embeddings of one (model, dataset, machine type) combination.

    Attributes
    ----------
    key : hashable
        Identifier such as ``(model, dataset, machine)``, named in messages.
    train : array_like of shape (n_train, d)
        Normal training embeddings.
    train_domain : array_like of shape (n_train,) of str
        Domain of each training clip (``"source"`` or ``"target"``).
    eval : array_like of shape (n_eval, d)
        Labelled evaluation (test) embeddings.
    eval_label : array_like of shape (n_eval,) of bool
        True for an anomalous clip.
    eval_section : array_like of shape (n_eval,) of str
        Section (or machine ID for DCASE 2020 data) of each evaluation clip.
    eval_domain : array_like of shape (n_eval,) of str
        Domain of each evaluation clip.
    eval_path : array_like of shape (n_eval,) of str
        Clip paths, named in error messages.
    train_path : array_like of shape (n_train,) of str, optional
        Training clip paths, named in error messages when given.
    """

    key: Hashable
    train: np.ndarray
    train_domain: np.ndarray
    eval: np.ndarray
    eval_label: np.ndarray
    eval_section: np.ndarray
    eval_domain: np.ndarray
    eval_path: np.ndarray
    train_path: np.ndarray | None = None


@dataclass
class ProtocolResult:
    """Scores and AUCs of one protocol on one cell.

    Attributes
    ----------
    key : hashable
        The cell key.
    protocol : str
        One of :data:`PROTOCOLS`.
    auc : float
        Headline AUC (see the module docstring per protocol); NaN when undefined.
    scores : numpy.ndarray of shape (n_eval,), dtype float64
        Anomaly score per evaluation clip; NaN where the protocol scored no clip.
    per_section_auc : dict of str to float
        AUC of each section's scored clips; NaN when undefined.
    notes : list of str
        Fallbacks and skipped folds, with reasons.
    info : dict
        Settings and fitted details (estimator, C, k, seed, iterations).
    """

    key: Hashable
    protocol: str
    auc: float
    scores: np.ndarray
    per_section_auc: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    info: dict = field(default_factory=dict)


@dataclass
class CheckedCell:
    key: Hashable
    train: np.ndarray
    train_domain: np.ndarray
    train_path: np.ndarray | None
    eval: np.ndarray
    label: np.ndarray
    section: np.ndarray
    domain: np.ndarray
    path: np.ndarray


def check_cell(cell: Cell) -> CheckedCell:
    key = cell.key
    eval_path = np.asarray(cell.eval_path).astype(str)
    if eval_path.ndim != 1:
        raise ScoringError(f"{describe_key(key)}eval_path must be 1-D, got shape {eval_path.shape}")
    n_train = np.shape(cell.train)[0] if np.ndim(cell.train) == 2 else None
    train_path = None
    if cell.train_path is not None and n_train is not None:
        train_path = as_vector(cell.train_path, "train_path", n_train, key=key).astype(str)

    train = as_embedding_matrix(cell.train, "train", key=key, paths=train_path)
    evaluation = as_embedding_matrix(
        cell.eval, "eval", key=key, paths=eval_path if eval_path.shape[0] == np.shape(cell.eval)[0] else None
    )
    check_same_width(train, evaluation, key=key)
    n_eval = evaluation.shape[0]
    as_vector(eval_path, "eval_path", n_eval, key=key)
    return CheckedCell(
        key=key,
        train=train,
        train_domain=as_vector(cell.train_domain, "train_domain", train.shape[0], key=key).astype(str),
        train_path=train_path,
        eval=evaluation,
        label=as_labels(cell.eval_label, n_eval, key=key),
        section=as_vector(cell.eval_section, "eval_section", n_eval, key=key).astype(str),
        domain=as_vector(cell.eval_domain, "eval_domain", n_eval, key=key).astype(str),
        path=eval_path,
    )


def auc_or_nan(labels: np.ndarray, scores: np.ndarray, scope: str, notes: list) -> float:
    n_anomalies = int(labels.sum())
    if n_anomalies == 0 or n_anomalies == labels.shape[0]:
        notes.append(f"{scope}: AUC undefined, {n_anomalies} anomalies among {labels.shape[0]} clips")
        return float("nan")
    return roc_auc(labels, scores)


def section_aucs(cell: CheckedCell, scores: np.ndarray, notes: list) -> dict:
    aucs = {}
    scored = ~np.isnan(scores)
    for section in np.unique(cell.section):
        rows = (cell.section == section) & scored
        if not rows.any():
            continue
        aucs[str(section)] = auc_or_nan(cell.label[rows], scores[rows], f"section {section}", notes)
    return aucs


def finish(cell: CheckedCell, protocol: str, scores: np.ndarray, notes: list, info: dict) -> ProtocolResult:
    auc = auc_or_nan(cell.label, scores, protocol, notes)
    per_section = section_aucs(cell, scores, notes)
    return ProtocolResult(cell.key, protocol, auc, scores, per_section, notes, info)
