"""Checkpoint locations of the pretrained models, and their expected hashes.

A checkpoint path is taken from the first of these that is set:

1. the ``checkpoint`` argument (``asdfeat extract --checkpoint FILE``);
2. the environment variable of the model, ``ASDFEAT_CHECKPOINT_`` followed by
   the model name in upper case with ``+`` written as ``_PLUS`` and every
   other character that is not a letter or digit written as ``_``
   (``beats-iter3+`` reads ``ASDFEAT_CHECKPOINT_BEATS_ITER3_PLUS``);
3. the ``[checkpoints]`` table of the config file, which maps model names to
   paths. The file is ``$ASDFEAT_CONFIG`` when that variable is set, else
   ``~/.config/asdfeat/config.toml``.

An optional ``[sha256]`` table in the same file maps model names to the
expected SHA-256 of their checkpoint. For example::

    [checkpoints]
    "beats-iter3+" = "~/models/BEATs_iter3_plus_AS2M.pt"
    ced-mini = "/data/models/audiotransformer_mini_mAP_4896.pt"

    [sha256]
    "beats-iter3+" = "0123...abcd"

Relative paths in the config file are resolved against the file's folder.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from asdfeat.errors import CheckpointError, ExtractorError

logger = logging.getLogger(__name__)

CONFIG_ENV_VAR = "ASDFEAT_CONFIG"
DEFAULT_CONFIG_PATH = Path("~/.config/asdfeat/config.toml")
_ENV_PREFIX = "ASDFEAT_CHECKPOINT_"


@dataclass(frozen=True)
class OfficialCheckpoint:
    """The file the authors publish for a model, and where."""

    file_name: str
    published_at: str


# File names and download pages as the authors list them in their READMEs.
OFFICIAL_CHECKPOINTS = {
    "beats-iter3": OfficialCheckpoint(
        "BEATs_iter3.pt",
        "the 'Pre-Trained Model' column of the table in https://github.com/microsoft/unilm/tree/master/beats",
    ),
    "beats-iter3+": OfficialCheckpoint(
        "BEATs_iter3_plus_AS2M.pt",
        "the 'Pre-Trained Model' column, row 'Iter3+ (AS2M)', of the table in "
        "https://github.com/microsoft/unilm/tree/master/beats",
    ),
    "eat-base": OfficialCheckpoint(
        "model.safetensors (with its config.json in the same folder)",
        "the Hugging Face hub repository worstchan/EAT-base_epoch30_pretrain "
        "(fairseq checkpoints are linked from https://github.com/cwx-worst-one/EAT)",
    ),
    "eat-large": OfficialCheckpoint(
        "model.safetensors (with its config.json in the same folder)",
        "the Hugging Face hub repository worstchan/EAT-large_epoch20_pretrain "
        "(fairseq checkpoints are linked from https://github.com/cwx-worst-one/EAT)",
    ),
    "ced-tiny": OfficialCheckpoint(
        "audiotransformer_tiny_mAP_4814.pt",
        "Zenodo record 8275347, linked from https://github.com/RicherMans/CED",
    ),
    "ced-mini": OfficialCheckpoint(
        "audiotransformer_mini_mAP_4896.pt",
        "Zenodo record 8275347, linked from https://github.com/RicherMans/CED",
    ),
    "ced-small": OfficialCheckpoint(
        "audiotransformer_small_mAP_4958.pt",
        "Zenodo record 8275347, linked from https://github.com/RicherMans/CED",
    ),
    "ced-base": OfficialCheckpoint(
        "audiotransformer_base_mAP_4999.pt",
        "Zenodo record 8275347, linked from https://github.com/RicherMans/CED",
    ),
}


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """A checkpoint path with where it was configured and its expected hash.

    Attributes
    ----------
    path : Path
        Checkpoint file, with ``~`` expanded.
    source : str
        Where the path came from, e.g. ``"--checkpoint"``, the environment
        variable name, or ``"<config path>, checkpoints table"``.
    expected_sha256 : str or None
        Hash from the config file's ``[sha256]`` table, if any.
    """

    path: Path
    source: str
    expected_sha256: str | None = None


def checkpoint_env_var(model: str) -> str:
    """Return the environment variable that may hold the checkpoint path of ``model``."""
    suffix = model.upper().replace("+", "_PLUS")
    return _ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", suffix)


def config_path() -> Path:
    """Return the config file path: ``$ASDFEAT_CONFIG`` or ``~/.config/asdfeat/config.toml``."""
    configured = os.environ.get(CONFIG_ENV_VAR)
    return Path(configured).expanduser() if configured else DEFAULT_CONFIG_PATH.expanduser()


def load_config(path: str | Path | None = None) -> dict:
    """Read the TOML config file; a missing file gives an empty config.

    Raises
    ------
    ExtractorError
        If the file is not valid TOML, or its ``[checkpoints]`` or ``[sha256]``
        table is not a table of strings.
    """
    path = Path(path).expanduser() if path is not None else config_path()
    if not path.is_file():
        if os.environ.get(CONFIG_ENV_VAR):
            raise ExtractorError(f"config file {path} set by ${CONFIG_ENV_VAR} not found")
        return {}

    try:
        with path.open("rb") as stream:
            config = tomllib.load(stream)
    except tomllib.TOMLDecodeError as error:
        raise ExtractorError(f"invalid TOML in config file {path}: {error}") from error

    for table in ("checkpoints", "sha256"):
        entries = config.get(table, {})
        if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
            raise ExtractorError(f"config file {path}: the {table} table must map model names to strings")
    return config


def configured_checkpoint(model: str) -> ResolvedCheckpoint | None:
    """Find the checkpoint configured for ``model`` by environment or config file, if any."""
    variable = checkpoint_env_var(model)
    config_file = config_path()
    config = load_config(config_file)
    expected = config.get("sha256", {}).get(model)

    if os.environ.get(variable):
        return ResolvedCheckpoint(Path(os.environ[variable]).expanduser(), f"${variable}", expected)

    configured = config.get("checkpoints", {}).get(model)
    if configured is None:
        return None
    path = Path(configured).expanduser()
    if not path.is_absolute():
        path = config_file.parent / path
    return ResolvedCheckpoint(path, f"{config_file}, checkpoints table", expected)


def resolve_checkpoint(model: str, checkpoint: str | Path | None = None) -> ResolvedCheckpoint:
    """Find the checkpoint of ``model``: the argument, else the environment, else the config file.

    Parameters
    ----------
    model : str
        Registry name, e.g. ``"beats-iter3+"``.
    checkpoint : str or Path, optional
        Explicit path; it takes precedence over any configured one. The
        configured hash still applies to it.

    Returns
    -------
    ResolvedCheckpoint

    Raises
    ------
    CheckpointError
        If no checkpoint is configured, or the path does not exist. The
        message names the official file and where the authors publish it.
    """
    if checkpoint is not None:
        config = load_config()
        expected = config.get("sha256", {}).get(model)
        resolved = ResolvedCheckpoint(Path(checkpoint).expanduser(), "--checkpoint", expected)
    else:
        resolved = configured_checkpoint(model)

    # Messages name TOML tables without brackets: the CLI prints errors as rich
    # markup, which drops a bracketed word such as "[checkpoints]".
    if resolved is None:
        raise CheckpointError(
            f"no checkpoint configured for model {model!r}. {_download_hint(model)} Then pass "
            f"--checkpoint FILE, set ${checkpoint_env_var(model)}, or add it to the checkpoints "
            f"table of {config_path()}"
        )
    if not resolved.path.exists():
        raise CheckpointError(
            f"checkpoint file for model {model!r} not found: {resolved.path} (from {resolved.source}). "
            f"{_download_hint(model)}"
        )

    logger.debug("checkpoint for %s: %s (from %s)", model, resolved.path, resolved.source)
    return resolved


def _download_hint(model: str) -> str:
    official = OFFICIAL_CHECKPOINTS.get(model)
    if official is None:
        return "Pass the checkpoint file of this model."
    return f"Expected the official file {official.file_name}, published in {official.published_at}."
