"""Tests of safe checkpoint loading and strict state-dict matching."""

import hashlib

import pytest
import safetensors.torch
import torch

from asdfeat.errors import CheckpointError
from asdfeat.extractors.checkpoints import load_checkpoint, load_state_dict_strict, sha256_file, verify_sha256


class _CustomObject:
    """A class that only a full unpickler could rebuild."""


class _SharedPair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.first = torch.nn.Linear(2, 2)
        self.second = torch.nn.Linear(2, 2)
        self.second.weight = self.first.weight


def test_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    payload = bytes(range(256)) * 5000
    path.write_bytes(payload)

    assert sha256_file(path) == hashlib.sha256(payload).hexdigest()


def test_verify_sha256_accepts_and_rejects(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"weights")
    digest = hashlib.sha256(b"weights").hexdigest()

    assert verify_sha256(path, digest.upper() + "\n") == digest
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        verify_sha256(path, "0" * 64)
    with pytest.raises(CheckpointError, match="64 hexadecimal digits"):
        verify_sha256(path, "abc")


def test_load_torch_and_safetensors(tmp_path):
    state = {"weight": torch.arange(6.0).reshape(2, 3), "bias": torch.ones(2)}
    torch.save({"cfg": {"layers": 2}, "model": state}, tmp_path / "model.pt")
    safetensors.torch.save_file(state, tmp_path / "model.safetensors")

    loaded = load_checkpoint(tmp_path / "model.pt")
    assert loaded["cfg"] == {"layers": 2}
    assert torch.equal(loaded["model"]["weight"], state["weight"])

    loaded = load_checkpoint(tmp_path / "model.safetensors")
    assert set(loaded) == {"weight", "bias"}
    assert torch.equal(loaded["bias"], state["bias"])


def test_load_missing_names_path(tmp_path):
    path = tmp_path / "absent.pt"
    with pytest.raises(CheckpointError, match="absent.pt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not a file"):
        load_checkpoint(tmp_path)


def test_load_rejects_pickled_objects(tmp_path):
    path = tmp_path / "unsafe.pt"
    torch.save({"model": {}, "extra": _CustomObject()}, path)

    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert "cannot be loaded safely" in str(error.value)
    assert "safetensors" in str(error.value)


def test_load_rejects_corrupt_and_non_dict(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt.pt"):
        load_checkpoint(corrupt)

    tensor_file = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor_file)
    with pytest.raises(CheckpointError, match="expected a dict"):
        load_checkpoint(tensor_file)

    bad_safetensors = tmp_path / "bad.safetensors"
    bad_safetensors.write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        load_checkpoint(bad_safetensors)


def test_strict_load_copies_values():
    source = torch.nn.Linear(3, 2)
    target = torch.nn.Linear(3, 2)

    load_state_dict_strict(target, source.state_dict(), source="unit test")

    assert torch.equal(target.weight, source.weight)
    assert torch.equal(target.bias, source.bias)


def test_strict_load_lists_every_problem():
    target = torch.nn.Linear(3, 2)
    state = {"weight": torch.zeros(2, 4), "scale": torch.zeros(1)}

    with pytest.raises(CheckpointError) as error:
        load_state_dict_strict(target, state, source="broken.pt")
    message = str(error.value)
    assert "broken.pt" in message
    assert "missing key: bias" in message
    assert "unexpected key: scale" in message
    assert "shape mismatch for weight: checkpoint (2, 4), model (2, 3)" in message


def test_strict_load_checks_shared_tensors():
    model = _SharedPair()
    state = {key: value.clone() for key, value in model.state_dict().items()}
    load_state_dict_strict(model, state, source="consistent")

    state["second.weight"] = state["second.weight"] + 1.0
    with pytest.raises(CheckpointError, match="shared tensor differs: second.weight"):
        load_state_dict_strict(model, state, source="inconsistent")
