"""asdfeat: a feature store and evaluation engine for machine-sound anomaly detection.

The package is split so that reading stored embeddings and scoring them never
imports torch: only :mod:`asdfeat.extractors` and the extraction pipeline do.
"""

__version__ = "0.1.0"
