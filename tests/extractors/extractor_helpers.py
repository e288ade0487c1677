"""Checks shared by the BEATs, EAT and CED extractor tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from asdfeat.extract import run_extraction
from asdfeat.store import EmbeddingKey, open_store


def max_abs_difference(actual, expected) -> float:
    return float(np.abs(np.asarray(actual, dtype=np.float64) - expected).max())


def assert_batch_matches_single_clips(extractor, clips: dict[str, np.ndarray]) -> None:
    """Embed a 10 s, a shorter and a 30 s clip together and compare each row with the clip embedded alone."""
    short = clips["synth_10s"][:50_000]
    long = np.concatenate([clips["real_fan"]] * 3)
    batch = extractor.embed([clips["real_fan"], short, long])

    assert batch.shape == (3, extractor.dim)
    for row, clip in enumerate([clips["real_fan"], short, long]):
        np.testing.assert_allclose(batch[row], extractor.embed([clip])[0], atol=1e-5, rtol=1e-5)


def assert_model_matches_manifest(model: torch.nn.Module, manifest: dict) -> None:
    """Compare a model's state dict with a golden key manifest.

    Checks the key order, count, shapes, dtypes, parameter or buffer kind,
    which keys share one tensor, and the number of unique parameters.
    """
    parameters = dict(model.named_parameters(remove_duplicate=False))
    buffers = dict(model.named_buffers(remove_duplicate=False))
    state = model.state_dict(keep_vars=True)
    entries = manifest["keys"]

    assert list(state) == [entry["key"] for entry in entries]
    assert len(state) == manifest["num_keys"]
    for entry in entries:
        tensor = state[entry["key"]]
        assert list(tensor.shape) == entry["shape"], entry["key"]
        assert str(tensor.dtype).removeprefix("torch.") == entry["dtype"], entry["key"]
        assert (entry["key"] in parameters) == (entry["kind"] == "parameter"), entry["key"]
        assert (entry["key"] in buffers) == (entry["kind"] == "buffer"), entry["key"]

    shared = {entry["key"]: entry.get("same_tensor_as") for entry in entries}
    for key, tensor in state.items():
        first = next(other for other, candidate in state.items() if candidate is tensor)
        assert shared[key] == (first if first != key else None), key
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters_unique"]


def extract_one_fan_clip(tmp_path: Path, wav_path: Path, model: str, checkpoint: Path):
    """Run the extraction pipeline on one DCASE 2020 fan test clip and read back what it stored.

    Returns
    -------
    embeddings : ndarray of shape (n_clips, dim)
    table : ClipTable
        The clips stored with them, one row each.
    """
    clip_path = tmp_path / "dev_data" / "fan" / "test" / "normal_id_00_00000030.wav"
    clip_path.parent.mkdir(parents=True)
    shutil.copy(wav_path, clip_path)

    run_extraction(tmp_path / "dev_data", tmp_path / "store.zarr", model, checkpoint=checkpoint)

    store = open_store(tmp_path / "store.zarr", "r")
    return store.read_embeddings(EmbeddingKey(model, "dcase2020", "fan"))
