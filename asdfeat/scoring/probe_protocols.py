"""Linear-probe protocols (``lp-in`` and ``lp-out``), batched over folds and cells.

Every fold of every cell becomes one logistic-regression problem, and all of
them go to :func:`asdfeat.scoring.probe.fit_probes` in a single call. See
:mod:`asdfeat.scoring.protocols` for the split rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asdfeat.scoring.cells import CheckedCell, ProtocolResult, auc_or_nan, section_aucs
from asdfeat.scoring.probe import fit_probes


@dataclass
class _Fold:
    cell_index: int
    train_rows: np.ndarray
    test_rows: np.ndarray
    section: str | None


def split_in_domain(section: np.ndarray, label: np.ndarray, path: np.ndarray, seed: int):
    """Split evaluation clips 50/50 within every (section, label) group.

    Parameters
    ----------
    section, label, path : numpy.ndarray of shape (n,)
        Section, anomaly label and clip path of every evaluation clip.
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    train_rows, test_rows : numpy.ndarray of int
        Sorted row indices of the training and evaluation halves. A group of
        n clips gives ``n // 2`` training clips, so an odd group puts the
        extra clip in the evaluation half.
    """
    rng = np.random.default_rng(seed)
    by_path = np.argsort(path, kind="stable")
    train_rows = []
    for group_section in np.unique(section):
        for group_label in (False, True):
            in_group = (section[by_path] == group_section) & (label[by_path] == group_label)
            members = rng.permutation(by_path[in_group])
            train_rows.append(members[: members.shape[0] // 2])
    train = np.sort(np.concatenate(train_rows))
    test = np.setdiff1d(np.arange(section.shape[0]), train)
    return train, test


def _class_counts(label: np.ndarray) -> str:
    return f"{int(label.sum())} anomalous and {int((~label).sum())} normal clips"


def _plan_in_domain(index: int, cell: CheckedCell, seed: int, notes: list) -> list[_Fold]:
    train, test = split_in_domain(cell.section, cell.label, cell.path, seed)
    if cell.label[train].all() or not cell.label[train].any():
        notes.append(f"lp-in: skipped, the training halves hold {_class_counts(cell.label[train])}")
        return []
    return [_Fold(index, train, test, None)]


def _plan_out_domain(index: int, cell: CheckedCell, notes: list) -> list[_Fold]:
    sections = [str(section) for section in np.unique(cell.section)]
    if len(sections) < 2:
        notes.append(f"lp-out: undefined with a single section ({sections[0]!r}); needs at least 2")
        return []

    folds = []
    for section in sections:
        held_out = cell.section == section
        train = np.flatnonzero(~held_out)
        test = np.flatnonzero(held_out)
        if cell.label[train].all() or not cell.label[train].any():
            notes.append(f"lp-out: fold {section!r} skipped, training sections hold {_class_counts(cell.label[train])}")
        elif cell.label[test].all() or not cell.label[test].any():
            notes.append(f"lp-out: fold {section!r} skipped, held-out section holds {_class_counts(cell.label[test])}")
        else:
            folds.append(_Fold(index, train, test, str(section)))
    return folds


def run_probe_protocol(cells: list[CheckedCell], protocol: str, *, C: float, seed: int) -> list[ProtocolResult]:
    """Run ``lp-in`` or ``lp-out`` on checked cells with one batched probe fit."""
    notes = [[] for _ in cells]
    folds: list[_Fold] = []
    for index, cell in enumerate(cells):
        if protocol == "lp-in":
            folds += _plan_in_domain(index, cell, seed, notes[index])
        else:
            folds += _plan_out_domain(index, cell, notes[index])

    problems = [(cells[f.cell_index].eval[f.train_rows], cells[f.cell_index].label[f.train_rows]) for f in folds]
    models = fit_probes(problems, C=C)

    scores = [np.full(cell.eval.shape[0], np.nan) for cell in cells]
    fold_info = [[] for _ in cells]
    for fold, model in zip(folds, models):
        cell = cells[fold.cell_index]
        scores[fold.cell_index][fold.test_rows] = model.predict_proba(cell.eval[fold.test_rows])
        fold_info[fold.cell_index].append(
            {
                "held_out_section": fold.section,
                "n_train": int(fold.train_rows.shape[0]),
                "n_test": int(fold.test_rows.shape[0]),
                "n_iter": model.n_iter,
                "converged": model.converged,
            }
        )
        if not model.converged:
            notes[fold.cell_index].append(f"{protocol}: Newton solver did not converge on fold {fold.section!r}")

    results = []
    for index, cell in enumerate(cells):
        info = {"C": C, "seed": seed, "folds": fold_info[index]}
        per_section = section_aucs(cell, scores[index], notes[index])
        if protocol == "lp-in":
            scored = ~np.isnan(scores[index])
            auc = auc_or_nan(cell.label[scored], scores[index][scored], "lp-in", notes[index]) if scored.any() else float("nan")
        else:
            defined = [value for value in per_section.values() if not np.isnan(value)]
            auc = float(np.mean(defined)) if defined else float("nan")
        results.append(ProtocolResult(cell.key, protocol, auc, scores[index], per_section, notes[index], info))
    return results
