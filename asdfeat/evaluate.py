"""Score stored embeddings under the ASD protocols and tabulate AUCs.

This module connects the feature store to the scoring engine. It turns each
stored (model, dataset, machine type) matrix into a scoring cell and runs a
protocol over all cells in one batch. Per cell, it reports the protocol's AUC
and the DCASE conventions: per-section AUC(source), AUC(target) and pAUC, and
the official score. It never imports torch.

Result rows are flat dicts with the columns in :data:`RESULT_COLUMNS`. The
``scope`` column gives what a row covers: ``"section"`` (one section of one
machine type), ``"machine"`` (one machine type) or ``"mean"`` (the mean over
machine types, with ``machine == "mean"`` and ``dataset == "all"``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.stats import hmean

from asdfeat.errors import ScoringError
from asdfeat.scoring import Cell, ProtocolResult, partial_auc, roc_auc, run_protocol, run_protocols
from asdfeat.store import EmbeddingKey, FeatureStore

logger = logging.getLogger(__name__)

MAX_FPR = 0.1

RESULT_COLUMNS = (
    "model",
    "dataset",
    "machine",
    "section",
    "protocol",
    "scope",
    "auc",
    "auc_source",
    "auc_target",
    "pauc",
    "official_score",
    "n_train",
    "n_eval",
    "notes",
)


@dataclass(frozen=True)
class ScoreOptions:
    """Options passed to every protocol.

    Attributes
    ----------
    shrinkage : str
        Estimator used when the MD covariance is ill-conditioned:
        ``"ledoit-wolf"`` or ``"oas"``.
    C : float
        Inverse L2 regularisation strength of the linear probes.
    k : int
        Neighbours of the cosine kNN backend.
    seed : int
        Seed of the in-domain probe's 50/50 split.
    min_domain_clips : int
        Minimum number of training clips of a domain for ``md-domain`` to fit its own model.
    """

    shrinkage: str = "ledoit-wolf"
    C: float = 1.0
    k: int = 1
    seed: int = 0
    min_domain_clips: int = 10


def build_cell(store: FeatureStore, key: EmbeddingKey) -> tuple[Cell, list[str]]:
    """Read one key's stored rows and split them into normal training and labelled test clips.

    Clips without a stored embedding (an extraction that stopped or skipped
    bad clips) are left out, and the returned notes give their number.

    Raises
    ------
    ScoringError
        If the machine type has no stored normal training clips or no
        labelled test clips.
    """
    embeddings, table = store.read_embeddings(key, require_complete=False)
    notes = []
    n_missing = len(store.read_clips(key.dataset, key.machine)) - len(table)
    if n_missing:
        notes.append(
            f"{n_missing} clip(s) have no stored embedding and are left out "
            "(skipped as bad clips, or not extracted yet)"
        )

    is_train = (table["split"] == "train") & (table["label"] == "normal")
    is_eval = (table["split"] == "test") & np.isin(table["label"], ["normal", "anomaly"])
    if not is_train.any():
        raise ScoringError(f"{_describe(key)}: no stored normal training clips to fit on")
    if not is_eval.any():
        raise ScoringError(
            f"{_describe(key)}: no labelled test clips; evaluation clips need ground-truth labels"
        )

    cell = Cell(
        key=key,
        train=embeddings[is_train],
        train_domain=table["domain"][is_train],
        eval=embeddings[is_eval],
        eval_label=table["label"][is_eval] == "anomaly",
        eval_section=table["section"][is_eval],
        eval_domain=table["domain"][is_eval],
        eval_path=table["path"][is_eval],
        train_path=table["path"][is_train],
    )
    return cell, notes


def score_store(
    store: FeatureStore,
    protocols: list[str],
    *,
    models: list[str] | None = None,
    machines: list[str] | None = None,
    options: ScoreOptions = ScoreOptions(),
) -> list[dict]:
    """Score every selected embedding matrix under each protocol.

    A cell that cannot be scored (no training clips, non-finite or constant
    embeddings) gets a machine row with NaN AUC and the error in its notes,
    so the other cells are still scored.

    Parameters
    ----------
    store : FeatureStore
    protocols : list of str
        Protocol names, e.g. ``["md", "lp-in", "lp-out"]``.
    models, machines : list of str, optional
        Restrict to these models / machine types.
    options : ScoreOptions

    Returns
    -------
    list of dict
        Result rows (see the module docstring), sections first, then machine
        types, then the means.
    """
    keys = select_keys(store, models=models, machines=machines)

    cells, cell_notes, failures = [], {}, {}
    for key in keys:
        try:
            cell, notes = build_cell(store, key)
        except ScoringError as error:
            failures[key] = str(error)
            continue
        cells.append(cell)
        cell_notes[key] = notes

    rows = []
    for protocol in protocols:
        for cell, outcome in _run_isolated(cells, protocol, options):
            if isinstance(outcome, ScoringError):
                rows.append(_failed_row(cell.key, protocol, str(outcome)))
            else:
                rows.extend(_cell_rows(cell, outcome, cell_notes[cell.key]))
        rows.extend(_failed_row(key, protocol, message) for key, message in failures.items())
    rows.extend(mean_rows(rows))
    return rows


def _run_isolated(cells: list[Cell], protocol: str, options: ScoreOptions):
    """Run ``protocol`` on all cells in one batch; if one cell fails, run them one by one."""
    settings = {
        "shrinkage": options.shrinkage,
        "C": options.C,
        "k": options.k,
        "seed": options.seed,
        "min_domain_clips": options.min_domain_clips,
    }
    try:
        return list(zip(cells, run_protocols(cells, protocol, **settings)))
    except ScoringError:
        logger.debug("batched %s scoring failed; scoring cells one by one", protocol)

    outcomes = []
    for cell in cells:
        try:
            outcomes.append((cell, run_protocol(cell, protocol, **settings)))
        except ScoringError as error:
            logger.warning("%s: %s", protocol, error)
            outcomes.append((cell, error))
    return outcomes


def _failed_row(key: EmbeddingKey, protocol: str, message: str) -> dict:
    row = dict.fromkeys(RESULT_COLUMNS, np.nan)
    row.update(
        {
            "model": key.model,
            "dataset": key.dataset,
            "machine": key.machine,
            "section": "all",
            "protocol": protocol,
            "scope": "machine",
            "n_train": 0,
            "n_eval": 0,
            "notes": f"not scored: {message}",
        }
    )
    return row


def select_keys(
    store: FeatureStore, *, models: list[str] | None = None, machines: list[str] | None = None
) -> list[EmbeddingKey]:
    """Return the stored keys matching the filters; raise if nothing matches."""
    keys = store.list_embeddings()
    if not keys:
        raise ScoringError("the store contains no embeddings; run 'asdfeat extract' or 'asdfeat import' first")

    for name, requested, present in (
        ("model", models, {k.model for k in keys}),
        ("machine type", machines, {k.machine for k in keys}),
    ):
        unknown = sorted(set(requested or []) - present)
        if unknown:
            raise ScoringError(f"{name}(s) {unknown} not found in the store; it contains {sorted(present)}")

    return [
        key
        for key in keys
        if (not models or key.model in models) and (not machines or key.machine in machines)
    ]


def _cell_rows(cell: Cell, result: ProtocolResult, cell_notes: list[str]) -> list[dict]:
    key = cell.key
    scored = ~np.isnan(result.scores)
    labels, scores = cell.eval_label[scored], result.scores[scored]
    sections, domains = cell.eval_section[scored], cell.eval_domain[scored]

    base = {"model": key.model, "dataset": key.dataset, "machine": key.machine, "protocol": result.protocol}
    rows = []
    official_terms = []
    for section in sorted(set(sections.tolist())):
        in_section = sections == section
        metrics = section_metrics(labels[in_section], scores[in_section], domains[in_section])
        official_terms += _official_terms(metrics)
        rows.append(
            {
                **base,
                "section": section,
                "scope": "section",
                **metrics,
                "auc": result.per_section_auc.get(section, metrics["auc"]),
                "official_score": np.nan,
                "n_train": len(cell.train),
                "n_eval": int(in_section.sum()),
                "notes": "",
            }
        )

    rows.append(
        {
            **base,
            "section": "all",
            "scope": "machine",
            "auc": result.auc,
            "auc_source": np.nan,
            "auc_target": np.nan,
            "pauc": _safe_metric(partial_auc, labels, scores, max_fpr=MAX_FPR),
            "official_score": official_score(official_terms, key.dataset),
            "n_train": len(cell.train),
            "n_eval": int(scored.sum()),
            "notes": "; ".join(cell_notes + list(result.notes)),
        }
    )
    return rows


def section_metrics(labels: np.ndarray, scores: np.ndarray, domains: np.ndarray) -> dict:
    """DCASE per-section metrics.

    AUC(source) uses the source-domain normal clips and *all* anomalous clips
    of the section, and AUC(target) likewise. pAUC uses every clip of the
    section with max FPR 0.1 (McClish-standardised). Sections without domains (DCASE
    2020) report NaN for the two domain AUCs.
    """
    metrics = {"auc": _safe_metric(roc_auc, labels, scores)}
    for domain in ("source", "target"):
        keep = labels | (domains == domain)
        has_domain = (domains[~labels] == domain).any()
        metrics[f"auc_{domain}"] = _safe_metric(roc_auc, labels[keep], scores[keep]) if has_domain else np.nan
    metrics["pauc"] = _safe_metric(partial_auc, labels, scores, max_fpr=MAX_FPR)
    return metrics


def _official_terms(metrics: dict) -> list[float]:
    # Without domains (DCASE 2020) the official score averages AUC and pAUC.
    names = ("auc_source", "auc_target", "pauc")
    if np.isnan(metrics["auc_source"]) and np.isnan(metrics["auc_target"]):
        names = ("auc", "pauc")
    return [metrics[name] for name in names if not np.isnan(metrics[name])]


def official_score(terms: list[float], dataset: str) -> float:
    """DCASE official score over the AUC(source), AUC(target) and pAUC values.

    DCASE 2021 and later use the harmonic mean; for DCASE 2020 (no domains,
    so ``terms`` holds per-section AUCs and pAUCs) the arithmetic mean.
    """
    if not terms:
        return np.nan
    if dataset == "dcase2020":
        return float(np.mean(terms))
    return float(hmean(terms))


def mean_rows(rows: list[dict]) -> list[dict]:
    """Average the machine-type rows of each (model, protocol) into one row.

    A mean is NaN when any machine type's value is NaN, so that means over
    different sets of machine types are not compared by accident. The notes
    name the machine types without a value.
    """
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        if row["scope"] == "machine":
            groups[(row["model"], row["protocol"])].append(row)

    means = []
    for (model, protocol), members in groups.items():
        missing = sorted(m["machine"] for m in members if not np.isfinite(m["auc"]))
        notes = f"mean over {len(members)} machine types"
        if missing:
            notes += f"; AUC undefined for {', '.join(missing)}, so the mean AUC is undefined"
        means.append(
            {
                "model": model,
                "dataset": "all",
                "machine": "mean",
                "section": "all",
                "protocol": protocol,
                "scope": "mean",
                **{c: _strict_mean([m[c] for m in members]) for c in ("auc", "auc_source", "auc_target", "pauc", "official_score")},
                "n_train": sum(m["n_train"] for m in members),
                "n_eval": sum(m["n_eval"] for m in members),
                "notes": notes,
            }
        )
    return means


def _strict_mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(values.mean()) if values.size and np.isfinite(values).all() else np.nan


def _safe_metric(metric, labels, scores, **kwargs) -> float:
    # A section whose scored clips hold one class has no AUC; report NaN.
    if labels.size == 0 or labels.all() or not labels.any():
        return np.nan
    return float(metric(labels, scores, **kwargs))


def _describe(key: EmbeddingKey) -> str:
    return f"model {key.model!r}, {key.dataset} / {key.machine}"
