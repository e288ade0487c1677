"""Downstream anomaly-detection protocols run on one cell of embeddings.

A cell is one (model, dataset, machine type) combination: its normal training
embeddings and its labelled evaluation embeddings. Each protocol turns them
into one anomaly score per evaluation clip and an AUC:

``md``
    Mahalanobis distance to all normal training clips (see
    :mod:`asdfeat.scoring.mahalanobis`); AUC over every evaluation clip.
``md-domain``
    One Mahalanobis model per training domain (``train_domain``, for example
    source and target); the score is the minimum distance over the domains.
    A domain with fewer than ``min_domain_clips`` training clips gets no
    model, and a note records it. When no domain has a model, the pooled
    ``md`` model is used.
``knn``
    Mean cosine distance to the ``k`` nearest normal training clips.
``lp-in``
    Linear probe, in-domain. Split rule: within every (section, label) group,
    clips are ordered by path, shuffled by ``numpy.random.default_rng(seed)``
    (groups visited in sorted order), and the first ``n // 2`` go to the
    training half, the rest to the evaluation half. One probe is fitted on
    the union of training halves; the AUC is on the union of evaluation
    halves, and training-half clips get a NaN score.
``lp-out``
    Linear probe, out-domain: leave one section out, fit on the others, score
    the held-out one; the AUC is the mean of the per-section AUCs. A fold
    whose training clips have one class, or whose held-out section has one
    class, is skipped with a note.

Undefined AUCs (a single class) become NaN with a note, never an exception.
Invalid input (non-finite embeddings, mismatched lengths) raises
:class:`~asdfeat.errors.ScoringError` naming the cell key and clip path.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from asdfeat.errors import ScoringError, ShrinkageWarning
from asdfeat.scoring.cells import PROTOCOLS, Cell, CheckedCell, ProtocolResult, check_cell, finish
from asdfeat.scoring.knn import knn_scores
from asdfeat.scoring.mahalanobis import DEFAULT_MAX_CONDITION, MahalanobisModel, fit_md
from asdfeat.scoring.probe_protocols import run_probe_protocol

DEFAULT_MIN_DOMAIN_CLIPS = 10


def _fit_md_quietly(train, shrinkage, max_condition, key, paths) -> MahalanobisModel:
    # Protocol results carry the fallback reason in their notes, so the
    # per-cell warning would only repeat it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShrinkageWarning)
        return fit_md(train, shrinkage=shrinkage, max_condition=max_condition, key=key, paths=paths)


def _md_info(model: MahalanobisModel) -> dict:
    return {
        "estimator": model.estimator,
        "shrinkage": model.shrinkage,
        "reason": model.reason,
        "condition_number": model.condition_number,
        "n_train": model.n_train,
    }


def _run_md(cell: CheckedCell, options: dict) -> ProtocolResult:
    notes: list = []
    model = _fit_md_quietly(cell.train, options["shrinkage"], options["max_condition"], cell.key, cell.train_path)
    if model.reason is not None:
        notes.append(f"md: {model.estimator} shrinkage used because {model.reason}")
    scores = model.score(cell.eval, key=cell.key, paths=cell.path)
    return finish(cell, "md", scores, notes, _md_info(model))


def _run_md_domain(cell: CheckedCell, options: dict) -> ProtocolResult:
    notes: list = []
    info: dict = {"min_domain_clips": options["min_domain_clips"], "domains": {}}
    distances = []
    for domain in (str(value) for value in np.unique(cell.train_domain)):
        rows = cell.train_domain == domain
        if rows.sum() < options["min_domain_clips"]:
            notes.append(
                f"md-domain: domain {domain!r} has {int(rows.sum())} training clips, fewer than "
                f"{options['min_domain_clips']}; no model fitted for it"
            )
            continue
        paths = None if cell.train_path is None else cell.train_path[rows]
        try:
            model = _fit_md_quietly(cell.train[rows], options["shrinkage"], options["max_condition"], cell.key, paths)
        except ScoringError as error:
            # A tiny domain (e.g. two clips) can defeat even shrinkage; the other domains still score.
            notes.append(f"md-domain: no model for domain {domain!r} ({error})")
            continue
        if model.reason is not None:
            notes.append(f"md-domain: domain {domain!r} uses {model.estimator} shrinkage because {model.reason}")
        info["domains"][str(domain)] = _md_info(model)
        distances.append(model.score(cell.eval, key=cell.key, paths=cell.path))

    if not distances:
        notes.append("md-domain: no domain has enough training clips; using the pooled md model")
        model = _fit_md_quietly(cell.train, options["shrinkage"], options["max_condition"], cell.key, cell.train_path)
        info["domains"]["pooled"] = _md_info(model)
        distances.append(model.score(cell.eval, key=cell.key, paths=cell.path))
    return finish(cell, "md-domain", np.min(distances, axis=0), notes, info)


def _run_knn(cell: CheckedCell, options: dict) -> ProtocolResult:
    scores = knn_scores(
        cell.train, cell.eval, k=options["k"], key=cell.key, train_paths=cell.train_path, test_paths=cell.path
    )
    return finish(cell, "knn", scores, [], {"k": options["k"], "metric": "cosine"})


def _check_options(protocol: str, shrinkage: str, C: float, k: int, seed: int, min_domain_clips: int) -> None:
    if protocol not in PROTOCOLS:
        raise ScoringError(f"unknown protocol {protocol!r}; choose one of {PROTOCOLS}")
    if shrinkage not in ("ledoit-wolf", "oas"):
        raise ScoringError(f"unknown shrinkage estimator {shrinkage!r}; choose 'ledoit-wolf' or 'oas'")
    if not C > 0:
        raise ScoringError(f"C must be positive, got {C}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ScoringError(f"k must be a positive integer, got {k!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ScoringError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(min_domain_clips, bool) or not isinstance(min_domain_clips, (int, np.integer)) or min_domain_clips < 2:
        raise ScoringError(f"min_domain_clips must be an integer of at least 2, got {min_domain_clips!r}")


def run_protocols(
    cells: Sequence[Cell],
    protocol: str,
    *,
    shrinkage: str = "ledoit-wolf",
    C: float = 1.0,
    k: int = 1,
    seed: int = 0,
    max_condition: float = DEFAULT_MAX_CONDITION,
    min_domain_clips: int = DEFAULT_MIN_DOMAIN_CLIPS,
) -> list[ProtocolResult]:
    """Run one protocol on many cells.

    Linear-probe folds of all cells are fitted in one batched solver call;
    the other protocols run cell by cell.

    Parameters
    ----------
    cells : sequence of Cell
        Cells to score.
    protocol : str
        One of :data:`PROTOCOLS`.
    shrinkage : {"ledoit-wolf", "oas"}, default "ledoit-wolf"
        Fallback covariance estimator of ``md`` and ``md-domain``.
    C : float, default 1.0
        Inverse L2 regularisation strength of the probes (scikit-learn's C).
    k : int, default 1
        Neighbours averaged by ``knn``.
    seed : int, default 0
        Seed of the ``lp-in`` split.
    max_condition : float, default 1e8
        Condition-number threshold of the ``md`` shrinkage fallback.
    min_domain_clips : int, default 10
        Minimum number of training clips for a domain to get its own ``md-domain`` model.

    Returns
    -------
    list of ProtocolResult
        One result per cell, in input order.

    Raises
    ------
    ScoringError
        On an unknown protocol or option, or invalid cell contents.
    """
    _check_options(protocol, shrinkage, C, k, seed, min_domain_clips)
    checked = [check_cell(cell) for cell in cells]
    options = {
        "shrinkage": shrinkage,
        "C": C,
        "k": int(k),
        "seed": int(seed),
        "max_condition": max_condition,
        "min_domain_clips": int(min_domain_clips),
    }
    if protocol in ("lp-in", "lp-out"):
        return run_probe_protocol(checked, protocol, C=C, seed=int(seed))

    runners = {"md": _run_md, "md-domain": _run_md_domain, "knn": _run_knn}
    return [runners[protocol](cell, options) for cell in checked]


def run_protocol(cell: Cell, protocol: str, **options) -> ProtocolResult:
    """Run one protocol on one cell; ``options`` are those of :func:`run_protocols`.

    Example: ``run_protocol(cell, "md", shrinkage="ledoit-wolf", C=1.0, k=1, seed=0)``.
    """
    return run_protocols([cell], protocol, **options)[0]
