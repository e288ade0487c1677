"""Write anomaly scores and decisions in the file format of the DCASE Task 2 evaluator.

For each machine type, a Mahalanobis-distance (MD) model is fitted on the
embeddings of all normal training clips (every section, no domain labels) and
scores every test clip, labelled or not. Per section, two header-less CSV
files are written, with the original file names, sorted:

* ``anomaly_score_<machine>_section_<XX>_test.csv``: rows ``<file name>,<score>``.
* ``decision_result_<machine>_section_<XX>_test.csv``: rows ``<file name>,<0|1>``.

DCASE 2020 has machine IDs in place of sections, and its baseline and
evaluator name the files per ID, so for the dataset ``dcase2020`` the names
are ``anomaly_score_<machine>_id_<XX>.csv`` and
``decision_result_<machine>_id_<XX>.csv``.

Decision rule: a gamma distribution is fitted with
:func:`scipy.stats.gamma.fit` (shape, location and scale all free) to the MD
scores of the normal training clips, and a clip is anomalous (1) when its
score is above the distribution's ``quantile`` (0.9 by default). There is one
threshold per machine type, because the MD model is fitted per
machine type.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from asdfeat.data.clips import ClipTable
from asdfeat.errors import ScoringError, StoreError
from asdfeat.store.base import EmbeddingKey

logger = logging.getLogger(__name__)

DEFAULT_QUANTILE = 0.9


@dataclass(frozen=True)
class MachineScores:
    """MD scores of one machine type's test clips and the decision threshold.

    Attributes
    ----------
    key : EmbeddingKey
    test : ClipTable
        The test clips, in store order.
    scores : ndarray of shape (n_test,), float64
        MD scores of ``test``.
    threshold : float
        Gamma quantile of the normal training clips' MD scores.
    decisions : ndarray of shape (n_test,), int
        1 where ``scores > threshold``, else 0.
    """

    key: EmbeddingKey
    test: ClipTable
    scores: np.ndarray
    threshold: float
    decisions: np.ndarray


def gamma_threshold(train_scores: np.ndarray, quantile: float = DEFAULT_QUANTILE) -> float:
    """Return the ``quantile`` of a gamma distribution fitted to training scores.

    Parameters
    ----------
    train_scores : ndarray of shape (n_train,)
        Anomaly scores of normal training clips; at least 3 finite values.
    quantile : float
        Probability in (0, 1).

    Raises
    ------
    ScoringError
        If there are too few scores, a score is not finite, all scores are
        equal, or the fit does not converge to a finite threshold.
    """
    if not 0.0 < quantile < 1.0:
        raise ScoringError(f"invalid decision quantile {quantile!r}; use a probability in (0, 1), e.g. 0.9")

    scores = np.asarray(train_scores, dtype=np.float64).ravel()
    if scores.size < 3 or not np.isfinite(scores).all():
        raise ScoringError(
            f"the gamma threshold needs at least 3 finite training scores, got {scores.size} "
            f"with {int((~np.isfinite(scores)).sum())} non-finite"
        )
    if np.ptp(scores) == 0.0:
        raise ScoringError(
            f"all {scores.size} training scores equal {scores[0]!r}, so no gamma distribution fits them"
        )

    shape, loc, scale = stats.gamma.fit(scores)
    threshold = float(stats.gamma.ppf(quantile, shape, loc=loc, scale=scale))
    if not np.isfinite(threshold):
        raise ScoringError(
            f"the gamma fit (shape={shape:.4g}, loc={loc:.4g}, scale={scale:.4g}) gave a "
            f"non-finite {quantile} quantile"
        )
    return threshold


def score_machine(store, key: EmbeddingKey, quantile: float = DEFAULT_QUANTILE) -> MachineScores:
    """Fit MD on the normal training clips of ``key`` and score its test clips.

    Raises
    ------
    ScoringError
        If the machine type has no normal training clips or no test clips.
    StoreError
        If the embedding matrix has incomplete rows.
    """
    from asdfeat.scoring import fit_md

    embeddings, table = store.read_embeddings(key)
    train_rows = (table["split"] == "train") & (table["label"] == "normal")
    test_rows = table["split"] == "test"
    where = f"model {key.model!r}, ({key.dataset}, {key.machine})"
    if not train_rows.any():
        raise ScoringError(f"{where}: no normal training clips to fit the MD model on")
    if not test_rows.any():
        raise ScoringError(f"{where}: no test clips to score")

    model = fit_md(embeddings[train_rows])
    train_scores = np.asarray(model.score(embeddings[train_rows]), dtype=np.float64)
    threshold = gamma_threshold(train_scores, quantile)
    scores = np.asarray(model.score(embeddings[test_rows]), dtype=np.float64)
    return MachineScores(
        key=key,
        test=table.select(test_rows),
        scores=scores,
        threshold=threshold,
        decisions=(scores > threshold).astype(int),
    )


def write_dcase_scores(
    store,
    model: str,
    out_dir: str | Path,
    *,
    datasets: list[str] | None = None,
    machines: list[str] | None = None,
    quantile: float = DEFAULT_QUANTILE,
) -> list[Path]:
    """Write the DCASE score and decision files of every selected machine type.

    Parameters
    ----------
    store : FeatureStore
    model : str
        Stored model to score.
    out_dir : str or path-like
        Output folder, created if needed; files of the same name are replaced.
    datasets, machines : list of str, optional
        Keep only these datasets or machine types.
    quantile : float
        Quantile of the fitted gamma distribution used as the threshold.

    Returns
    -------
    list of Path
        The written files, sorted.

    Raises
    ------
    StoreError
        If no stored embeddings match, or two selected datasets have the same
        machine type (their files would have the same names).
    ScoringError
        If a machine type cannot be scored, or a section lists one file name
        twice (the evaluator matches rows by file name).
    """
    keys = _select_keys(store, model, datasets, machines)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    written = []
    for key in keys:
        result = score_machine(store, key, quantile)
        logger.info(
            "%s %s: threshold %.6g flags %d of %d test clips",
            key.dataset, key.machine, result.threshold, int(result.decisions.sum()), len(result.scores),
        )
        written.extend(_write_sections(result, out_dir))
    return sorted(written)


def _select_keys(store, model, datasets, machines) -> list[EmbeddingKey]:
    keys = [
        key for key in store.list_embeddings()
        if key.model == model
        and (not datasets or key.dataset in datasets)
        and (not machines or key.machine in machines)
    ]
    if not keys:
        models = sorted({key.model for key in store.list_embeddings()})
        raise StoreError(
            f"the store has no embeddings of model {model!r} for datasets={datasets or 'all'} "
            f"and machines={machines or 'all'}; stored models: {models or 'none'}"
        )

    machine_datasets: dict[str, list[str]] = {}
    for key in keys:
        machine_datasets.setdefault(key.machine, []).append(key.dataset)
    clashes = {machine: names for machine, names in machine_datasets.items() if len(names) > 1}
    if clashes:
        raise StoreError(
            f"machine types {sorted(clashes)} occur in several datasets {clashes}; their score "
            "files would overwrite each other, so choose one dataset with --dataset"
        )
    return sorted(keys)


def _write_sections(result: MachineScores, out_dir: Path) -> list[Path]:
    machine = result.key.machine
    sections = result.test["section"]
    written = []
    for section in sorted(set(sections.tolist())):
        rows = np.flatnonzero(sections == section)
        names = result.test["file_name"][rows]
        _reject_duplicate_names(names, result.key, section)
        order = rows[np.argsort(names, kind="stable")]

        suffix = _file_suffix(result.key.dataset, section)
        score_file = out_dir / f"anomaly_score_{machine}_{suffix}.csv"
        decision_file = out_dir / f"decision_result_{machine}_{suffix}.csv"
        file_names = result.test["file_name"][order].tolist()
        _write_rows(score_file, zip(file_names, (repr(float(s)) for s in result.scores[order])))
        _write_rows(decision_file, zip(file_names, (str(int(d)) for d in result.decisions[order])))
        written.extend([score_file, decision_file])
    return written


def _file_suffix(dataset: str, section: str) -> str:
    if dataset == "dcase2020":
        return f"id_{section}"
    return f"section_{section}_test"


def _reject_duplicate_names(names: np.ndarray, key: EmbeddingKey, section: str) -> None:
    unique, counts = np.unique(names, return_counts=True)
    duplicates = unique[counts > 1].tolist()
    if duplicates:
        raise ScoringError(
            f"({key.dataset}, {key.machine}) section {section} has test clips with the same file "
            f"name in several folders, e.g. {duplicates[:10]}; the DCASE evaluator matches rows "
            "by file name, so these clips cannot be told apart"
        )


def _write_rows(path: Path, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
