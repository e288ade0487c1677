"""Safe loading of checkpoint files and strict matching against a model.

Checkpoints are loaded with ``torch.load(..., weights_only=True)`` or with
:func:`safetensors.torch.load_file`, so loading a file never runs code stored
in it. A file that only loads by unpickling arbitrary objects is rejected with
instructions for converting it.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch

from asdfeat.errors import CheckpointError

logger = logging.getLogger(__name__)

_HASH_CHUNK_BYTES = 1 << 20

_CONVERT_HINT = (
    "In a trusted environment, load it with torch.load(path, weights_only=False), "
    "then re-save only plain containers and tensors with torch.save(...), or "
    "convert the state dict with safetensors.torch.save_file(...)"
)


def sha256_file(path: str | Path) -> str:
    """Compute the SHA-256 of a file.

    Parameters
    ----------
    path : str or Path
        File to hash.

    Returns
    -------
    str
        Lower-case hexadecimal digest (64 characters).

    Raises
    ------
    CheckpointError
        If the file does not exist.
    """
    path = _existing_file(path)

    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(_HASH_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | Path, expected: str) -> str:
    """Check a file's SHA-256 against an expected digest.

    Parameters
    ----------
    path : str or Path
        File to hash.
    expected : str
        Expected hexadecimal digest; case and surrounding spaces are ignored.

    Returns
    -------
    str
        The file's digest.

    Raises
    ------
    CheckpointError
        If the file does not exist, ``expected`` is not a 64-digit hex string,
        or the digests differ.
    """
    expected = expected.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise CheckpointError(f"invalid expected SHA-256 {expected!r}: it must have 64 hexadecimal digits")

    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"SHA-256 mismatch for {path}: expected {expected}, got {actual}. "
            "The file is corrupt or a different release; download it again or update the configured hash"
        )
    return actual


def load_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint file without unpickling arbitrary objects.

    ``.safetensors`` files are read with :func:`safetensors.torch.load_file`;
    every other file with ``torch.load(path, map_location="cpu",
    weights_only=True)``.

    Parameters
    ----------
    path : str or Path
        Checkpoint file.

    Returns
    -------
    dict
        The loaded object, e.g. a state dict or ``{"cfg": ..., "model": ...}``;
        tensors are on the CPU.

    Raises
    ------
    CheckpointError
        If the file is missing, cannot be loaded safely, or does not contain a
        dict at the top level.
    """
    path = _existing_file(path)

    if path.suffix == ".safetensors":
        content = _load_safetensors(path)
    else:
        content = _load_torch(path)

    if not isinstance(content, dict):
        raise CheckpointError(
            f"checkpoint {path} contains a {type(content).__name__}, expected a dict "
            "(a state dict or a dict holding one)"
        )
    return content


def load_state_dict_strict(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *, source) -> None:
    """Copy a state dict into a module, requiring an exact key and shape match.

    Every key of ``state_dict`` must name a parameter or buffer of ``module``
    and every parameter or buffer must be present, with the same shape. Keys
    that the module stores as one shared tensor (e.g. a bias used by several
    layers) must hold equal values in ``state_dict``.

    Parameters
    ----------
    module : torch.nn.Module
        Target model; its tensors are updated in place.
    state_dict : mapping of str to Tensor
        Checkpoint tensors, already renamed to the module's key names.
    source : str or Path
        Where the tensors come from, used in error messages.

    Raises
    ------
    CheckpointError
        Listing every missing key, unexpected key, shape mismatch, and shared
        key whose copies differ.
    """
    expected = module.state_dict()
    problems = _key_problems(expected, state_dict) + _shared_value_problems(module, state_dict)
    if problems:
        listing = "\n  ".join(problems)
        raise CheckpointError(
            f"checkpoint {source} does not match {type(module).__name__} "
            f"({len(problems)} problems):\n  {listing}\n"
            "Check that the file belongs to this model and variant"
        )

    module.load_state_dict(dict(state_dict), strict=True)
    logger.debug("loaded %d tensors from %s into %s", len(state_dict), source, type(module).__name__)


def _existing_file(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"checkpoint file not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path {path} is not a file; pass the weights file itself")
    return path


def _load_safetensors(path: Path) -> dict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"cannot read safetensors file {path}: {error}") from error


# torch.save writes a zip archive; files from torch < 1.6 are raw pickles,
# which start with the PROTO opcode 0x80.
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


def _load_torch(path: Path):
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head.startswith(_TORCH_MAGIC):
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint (it is neither a torch.save zip archive nor a "
            "pickle); pass the checkpoint file the authors released, or a .safetensors file"
        )

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"checkpoint {path} contains objects other than tensors and plain containers, "
            f"so it cannot be loaded safely{_unsupported_global(error)}. {_CONVERT_HINT}"
        ) from error
    except (RuntimeError, EOFError, ValueError) as error:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {_first_line(error)}. "
            "The file may be truncated or not a PyTorch checkpoint; download it again"
        ) from error


def _unsupported_global(error: Exception) -> str:
    # torch's message also suggests weights_only=False, which would run
    # arbitrary code from the file; keep only the name of the offending object.
    for line in str(error).splitlines():
        if "Unsupported global" in line:
            return f" ({line.strip().rstrip('.')})"
    return ""


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _key_problems(expected: Mapping[str, torch.Tensor], loaded: Mapping[str, torch.Tensor]) -> list[str]:
    problems = [f"missing key: {key}" for key in expected if key not in loaded]
    problems += [f"unexpected key: {key}" for key in loaded if key not in expected]

    for key, tensor in loaded.items():
        if key in expected and tuple(tensor.shape) != tuple(expected[key].shape):
            problems.append(
                f"shape mismatch for {key}: checkpoint {tuple(tensor.shape)}, "
                f"model {tuple(expected[key].shape)}"
            )
    return problems


def _shared_value_problems(module: torch.nn.Module, loaded: Mapping[str, torch.Tensor]) -> list[str]:
    # Group key names by tensor object. Object identity also works on the meta
    # device, where every data pointer is 0.
    groups: dict[int, list[str]] = {}
    named = list(module.named_parameters(remove_duplicate=False))
    named += list(module.named_buffers(remove_duplicate=False))
    for name, tensor in named:
        groups.setdefault(id(tensor), []).append(name)

    problems = []
    for names in groups.values():
        present = [name for name in names if name in loaded]
        for name in present[1:]:
            first = loaded[present[0]]
            other = loaded[name]
            comparable = first.shape == other.shape and not (first.is_meta or other.is_meta)
            if comparable and not torch.equal(first, other):
                problems.append(f"shared tensor differs: {name} is not equal to {present[0]}")
    return problems
