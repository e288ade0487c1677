"""Exception and warning classes shared by every part of asdfeat.

Every error that a user can cause derives from :class:`AsdfeatError`, so the
CLI can print its message without a traceback. Messages name the offending
value and the fix.
"""


class AsdfeatError(Exception):
    """Base class of errors caused by user input or stored data."""


class DatasetError(AsdfeatError):
    """A dataset folder, file name or label file does not follow a DCASE layout."""


class AudioError(AsdfeatError):
    """An audio file cannot be decoded or contains no usable signal."""


class StoreError(AsdfeatError):
    """A feature store is missing, inconsistent, or would be overwritten."""


class ExtractorError(AsdfeatError):
    """An extractor name, option or checkpoint is invalid."""


class CheckpointError(ExtractorError):
    """A checkpoint file cannot be loaded safely or does not match the model."""


class ScoringError(AsdfeatError):
    """Embeddings or labels cannot be scored under the requested protocol."""


class StatsError(AsdfeatError):
    """A results or proxy-metric table cannot be analysed."""


class AsdfeatWarning(UserWarning):
    """Base class of warnings issued by asdfeat."""


class ShrinkageWarning(AsdfeatWarning):
    """A covariance estimate was replaced by a shrinkage estimate."""
