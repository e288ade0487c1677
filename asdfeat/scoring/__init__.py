"""Score stored embeddings: Mahalanobis distance, linear probes, kNN, AUC and pAUC.

This package depends on NumPy, SciPy and Numba only; it never imports torch,
so scoring runs where no training stack is installed.
"""

from asdfeat.scoring.auc import partial_auc, roc_auc
from asdfeat.scoring.cells import PROTOCOLS, Cell, ProtocolResult
from asdfeat.scoring.knn import knn_scores
from asdfeat.scoring.mahalanobis import MahalanobisModel, fit_md
from asdfeat.scoring.probe import ProbeModel, fit_probes
from asdfeat.scoring.probe_protocols import split_in_domain
from asdfeat.scoring.protocols import run_protocol, run_protocols

__all__ = [
    "PROTOCOLS",
    "Cell",
    "MahalanobisModel",
    "ProbeModel",
    "ProtocolResult",
    "fit_md",
    "fit_probes",
    "knn_scores",
    "partial_auc",
    "roc_auc",
    "run_protocol",
    "run_protocols",
    "split_in_domain",
]
