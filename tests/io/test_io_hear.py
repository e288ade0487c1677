"""HEAR 2021 modules as extractors, with a tiny HEAR module written by each test."""

from __future__ import annotations

import hashlib
import itertools
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch
from scipy.signal import resample_poly

from asdfeat.errors import CheckpointError, ExtractorError
from asdfeat.extractors import create_extractor
from asdfeat.extractors.hear import HearExtractor

# A HEAR module whose scene embedding is (mean, std, max |x|, lag-1 autocorrelation)
# of the scaled audio. Tests fill the {placeholders} with values that break the API.
MODULE_TEMPLATE = '''
import torch

__version__ = "1.2.3"
SEEN_LENGTHS = []


class Model(torch.nn.Module):
    sample_rate = {sample_rate}
    scene_embedding_size = {embedding_size}
    timestamp_embedding_size = 4

    def __init__(self, scale):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(scale), requires_grad=False)


def load_model(model_file_path=""):
    scale = float(open(model_file_path).read()) if model_file_path else 1.0
    return {model_expression}


def {function_name}(audio, model):
    SEEN_LENGTHS.append(audio.shape[1])
    x = audio * model.scale
    lag = (x[:, 1:] * x[:, :-1]).mean(dim=1)
    embedding = torch.stack([x.mean(dim=1), x.std(dim=1), x.abs().max(dim=1).values, lag], dim=1)
    return {output_expression}
'''

DEFAULTS = {
    "sample_rate": 8000,
    "embedding_size": 4,
    "model_expression": "Model(scale)",
    "function_name": "get_scene_embeddings",
    "output_expression": "embedding",
}

_counter = itertools.count()


@pytest.fixture
def hear_module(tmp_path, monkeypatch):
    """Return a function that writes a HEAR module and returns its importable name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written = []

    def write(**changes):
        name = f"tiny_hear_{next(_counter)}"
        source = MODULE_TEMPLATE.format(**{**DEFAULTS, **changes})
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def _expected(waveform: np.ndarray, up: int, down: int, scale: float = 1.0) -> np.ndarray:
    x = torch.from_numpy(resample_poly(waveform, up, down).astype(np.float32))[None] * scale
    lag = (x[:, 1:] * x[:, :-1]).mean(dim=1)
    return torch.stack([x.mean(dim=1), x.std(dim=1), x.abs().max(dim=1).values, lag], dim=1)[0].numpy()


def test_hear_prefix_builds_extractor(hear_module):
    name = hear_module()

    extractor = create_extractor(f"hear:{name}")

    assert isinstance(extractor, HearExtractor)
    assert extractor.name == f"hear:{name}"
    assert extractor.dim == 4
    assert extractor.sample_rate == 16000


def test_embed_resamples_to_module_rate(hear_module):
    name = hear_module(sample_rate=8000)
    extractor = create_extractor(f"hear:{name}")
    rng = np.random.default_rng(0)
    waveforms = [rng.uniform(-1, 1, 16000).astype(np.float32), rng.uniform(-1, 1, 16000).astype(np.float32)]

    embeddings = extractor.embed(waveforms)

    assert embeddings.dtype == np.float32
    assert embeddings.shape == (2, 4)
    assert sys.modules[name].SEEN_LENGTHS == [8000]
    for row, waveform in enumerate(waveforms):
        np.testing.assert_allclose(embeddings[row], _expected(waveform, 1, 2), rtol=1e-5, atol=1e-6)


def test_embed_upsamples_to_44100(hear_module):
    name = hear_module(sample_rate=44100)
    extractor = create_extractor(f"hear:{name}")
    waveform = np.random.default_rng(1).uniform(-1, 1, 3200).astype(np.float32)

    embeddings = extractor.embed([waveform])

    assert sys.modules[name].SEEN_LENGTHS == [8820]
    np.testing.assert_allclose(embeddings[0], _expected(waveform, 441, 160), rtol=1e-5, atol=1e-6)


def test_embed_groups_unequal_lengths(hear_module):
    name = hear_module(sample_rate=16000)
    extractor = create_extractor(f"hear:{name}")
    rng = np.random.default_rng(2)
    waveforms = [rng.uniform(-1, 1, n).astype(np.float32) for n in (1600, 800, 1600)]

    embeddings = extractor.embed(waveforms)

    assert sorted(sys.modules[name].SEEN_LENGTHS) == [800, 1600]
    for row, waveform in enumerate(waveforms):
        np.testing.assert_allclose(embeddings[row], _expected(waveform, 1, 1), rtol=1e-5, atol=1e-6)


def test_checkpoint_passed_to_load_model(hear_module, tmp_path):
    name = hear_module(sample_rate=16000)
    checkpoint = tmp_path / "weights.txt"
    checkpoint.write_text("2.0")
    waveform = np.random.default_rng(3).uniform(-1, 1, 1600).astype(np.float32)

    extractor = create_extractor(f"hear:{name}", checkpoint=checkpoint)

    np.testing.assert_allclose(extractor.embed([waveform])[0], _expected(waveform, 1, 1, 2.0), rtol=1e-5, atol=1e-6)
    provenance = extractor.provenance()
    assert provenance["checkpoint_sha256"] == hashlib.sha256(b"2.0").hexdigest()
    assert provenance["hear_module"] == name
    assert provenance["module_version"] == "1.2.3"
    assert provenance["module_sample_rate"] == 16000


def test_missing_checkpoint_rejected(hear_module, tmp_path):
    name = hear_module()

    with pytest.raises(CheckpointError, match=name):
        create_extractor(f"hear:{name}", checkpoint=tmp_path / "absent.pt")


BROKEN_MODULES = {
    "no scene function": ({"function_name": "get_embeddings"}, "get_scene_embeddings"),
    "float64 output": ({"output_expression": "embedding.double()"}, "torch.float64"),
    "numpy output": ({"output_expression": "embedding.numpy()"}, "ndarray"),
    "wrong width": ({"output_expression": "embedding[:, :3]"}, "3 columns"),
    "wrong rows": ({"output_expression": "embedding[:1]"}, "1 rows for a batch of 2"),
    "3-d output": ({"output_expression": "embedding[:, None]"}, "expected 2 dimensions"),
    "nan output": ({"output_expression": "embedding * float('nan')"}, "non-finite"),
    "not a module": ({"model_expression": "object()"}, "torch.nn.Module"),
    "float rate": ({"sample_rate": "16000.0"}, "sample_rate"),
    "string size": ({"embedding_size": "'4'"}, "scene_embedding_size"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_MODULES))
def test_broken_module_named_in_error(hear_module, case):
    changes, message = BROKEN_MODULES[case]
    name = hear_module(**changes)
    waveforms = [np.zeros(1600, dtype=np.float32), np.ones(1600, dtype=np.float32) * 0.1]

    with pytest.raises(ExtractorError) as error:
        create_extractor(f"hear:{name}").embed(waveforms)

    assert name in str(error.value)
    assert message in str(error.value)


def test_unimportable_module_rejected():
    with pytest.raises(ExtractorError, match="no_such_hear_module.*PYTHONPATH"):
        create_extractor("hear:no_such_hear_module")


def test_hear_options_rejected(hear_module):
    name = hear_module()

    with pytest.raises(ExtractorError, match="takes no model options"):
        create_extractor(f"hear:{name}", pooling="mean")


def test_hear_extraction_end_to_end(hear_module, tmp_path):
    from asdfeat.data.synth import synthesize_dataset
    from asdfeat.extract import run_extraction
    from asdfeat.store import EmbeddingKey, open_store

    name = hear_module(sample_rate=22050)
    data = synthesize_dataset(tmp_path / "data", machines=("fan",), sections=1, train_clips=4, test_clips=4, seconds=0.5)

    run_extraction(data, tmp_path / "store.zarr", f"hear:{name}", batch_size=3)

    key = EmbeddingKey(f"hear:{name}", "dcase2022", "fan")
    with open_store(tmp_path / "store.zarr", "r") as store:
        assert store.list_embeddings() == [key]
        embeddings, table = store.read_embeddings(key)
        provenance = store.read_provenance(key)
    assert embeddings.shape == (8, 4)
    assert provenance["hear_module"] == name
    for row, path in enumerate(table["path"].tolist()):
        waveform, rate = sf.read(data / "dev_data" / "raw" / path, dtype="float32")
        assert rate == 16000
        np.testing.assert_allclose(embeddings[row], _expected(waveform, 441, 320), rtol=1e-4, atol=1e-5)


def test_hear_extraction_real_clips(hear_module, tmp_path, real_data_dir):
    from asdfeat.extract import run_extraction
    from asdfeat.store import EmbeddingKey, open_store

    name = hear_module(sample_rate=48000)
    release = real_data_dir / "dcase2023"

    run_extraction(release, tmp_path / "store.h5", f"hear:{name}", machines=["valve"])

    with open_store(tmp_path / "store.h5", "r") as store:
        embeddings, table = store.read_embeddings(EmbeddingKey(f"hear:{name}", "dcase2023", "valve"))
    assert len(table) == 2
    for row, path in enumerate(table["path"].tolist()):
        waveform, _ = sf.read(release / "dev_data" / "raw" / path, dtype="float32")
        np.testing.assert_allclose(embeddings[row], _expected(waveform, 3, 1), rtol=1e-4, atol=1e-5)
