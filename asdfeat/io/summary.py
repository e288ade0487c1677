"""Summaries of what a feature store contains, for ``asdfeat ls``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from asdfeat.store.base import EmbeddingKey

# Characters of a SHA-256 digest shown in listings, as in short git hashes.
SHORT_HASH_LENGTH = 12


@dataclass(frozen=True)
class TableSummary:
    """One clip table.

    Attributes
    ----------
    dataset, machine : str
    sections : list of str
        Sorted distinct sections.
    n_clips : int
    counts : dict of (split, label) to int
        Clips per split and label, e.g. ``{("train", "normal"): 6000}``.
    """

    dataset: str
    machine: str
    sections: list[str]
    n_clips: int
    counts: dict[tuple[str, str], int]


@dataclass(frozen=True)
class EmbeddingSummary:
    """One embedding matrix.

    Attributes
    ----------
    key : EmbeddingKey
    dim : int or None
        Dimension from the provenance record.
    done, total : int
        Complete rows and all rows.
    source : str
        ``"external"`` for imported embeddings, else ``"extracted"``.
    sha256 : str or None
        Short SHA-256 of the checkpoint (extracted) or of the source file
        (imported), when recorded.
    created : str or None
        Creation time from the provenance record (ISO 8601).
    """

    key: EmbeddingKey
    dim: int | None
    done: int
    total: int
    source: str
    sha256: str | None
    created: str | None

    @property
    def complete(self) -> bool:
        return self.done == self.total


@dataclass
class StoreSummary:
    """Everything ``asdfeat ls`` shows about one store."""

    backend: str
    tables: list[TableSummary] = field(default_factory=list)
    embeddings: list[EmbeddingSummary] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        return sorted({item.key.model for item in self.embeddings})


def summarize_store(store, *, model: str | None = None) -> StoreSummary:
    """Collect the clip tables and embedding matrices of an open store.

    Parameters
    ----------
    store : FeatureStore
    model : str, optional
        Summarise only this model's embeddings; clip tables are always listed.
    """
    summary = StoreSummary(backend=getattr(store, "backend", ""))
    for dataset, machine in store.list_clip_tables():
        summary.tables.append(_summarize_table(dataset, machine, store.read_clips(dataset, machine)))

    for key in store.list_embeddings():
        if model is None or key.model == model:
            summary.embeddings.append(_summarize_embeddings(store, key))
    return summary


def _summarize_table(dataset: str, machine: str, table) -> TableSummary:
    pairs = zip(table["split"].tolist(), table["label"].tolist())
    return TableSummary(
        dataset=dataset,
        machine=machine,
        sections=sorted(set(table["section"].tolist())),
        n_clips=len(table),
        counts=dict(sorted(Counter(pairs).items())),
    )


def _summarize_embeddings(store, key: EmbeddingKey) -> EmbeddingSummary:
    provenance = store.read_provenance(key)
    mask = store.done_mask(key)
    external = bool(provenance.get("external")) or provenance.get("source") == "external"
    digest = provenance.get("source_sha256" if external else "checkpoint_sha256")
    dim = provenance.get("dim")
    return EmbeddingSummary(
        key=key,
        dim=None if dim is None else int(dim),
        done=int(mask.sum()),
        total=int(mask.size),
        source="external" if external else "extracted",
        sha256=digest[:SHORT_HASH_LENGTH] if isinstance(digest, str) else None,
        created=provenance.get("created"),
    )
