"""Every registered pretrained name extracts into a store on CPU.

The golden tiny checkpoints stand in for the released files. The BEATs file
carries its own cfg, the EAT folder its config.json, and the CED file has a
config.json beside it. So one tiny checkpoint per family serves every name of
that family.
"""

import numpy as np
import pytest
from typer.testing import CliRunner

from asdfeat.cli import app
from asdfeat.data.synth import synthesize_dataset
from asdfeat.extractors import available_models
from asdfeat.store import EmbeddingKey, open_store

GOLDEN_CHECKPOINTS = {
    "beats": "beats/beats_tiny.pt",
    "eat": "eat/hf",
    "ced": "ced/ced_tiny.pt",
}


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    synthesize_dataset(root, machines=["fan"], sections=1, train_clips=2, test_clips=4, seconds=1.0)
    return root


def _pretrained_names():
    return sorted(info.name for info in available_models() if info.family == "pretrained")


def test_eight_pretrained_names_registered():
    assert _pretrained_names() == sorted(
        ["beats-iter3", "beats-iter3+", "eat-base", "eat-large", "ced-tiny", "ced-mini", "ced-small", "ced-base"]
    )


@pytest.mark.parametrize("name", _pretrained_names())
def test_cli_extracts_every_pretrained_name(name, tiny_dataset, golden_dir, tmp_path):
    checkpoint = golden_dir / GOLDEN_CHECKPOINTS[name.split("-")[0]]
    store_path = tmp_path / "store.zarr"

    result = CliRunner().invoke(
        app,
        ["extract", "--data", str(tiny_dataset), "--model", name, "--checkpoint", str(checkpoint),
         "--store", str(store_path), "--device", "cpu", "--batch-size", "3"],
    )

    assert result.exit_code == 0, result.output
    with open_store(store_path, "r") as store:
        embeddings, table = store.read_embeddings(EmbeddingKey(name, "dcase2022", "fan"))
        provenance = store.read_provenance(EmbeddingKey(name, "dcase2022", "fan"))
    assert embeddings.shape == (len(table), 64)
    assert np.isfinite(embeddings).all()
    assert len(provenance["checkpoint_sha256"]) == 64
    assert provenance["model"] == name
