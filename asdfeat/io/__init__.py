"""Embedding files in, results out: import, export, DCASE score files, store summaries.

Nothing here imports torch, so importing and exporting embeddings works on a
machine without it.
"""

from asdfeat.io.readers import EmbeddingFileError

__all__ = ["EmbeddingFileError"]
