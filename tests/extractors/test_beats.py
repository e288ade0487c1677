"""Parity of the BEATs model and extractor with the reference code's golden arrays.

The golden folder holds a tiny random-weight checkpoint in the released
layout, two 10 s inputs and the arrays the reference BEATs code produced for
them, plus key manifests of the released base size.
"""

import json

import numpy as np
import pytest
import soundfile
import torch
from extractor_helpers import max_abs_difference

from asdfeat.errors import AudioError, CheckpointError, ExtractorError
from asdfeat.extractors.beats import BEATsExtractor, load_beats
from asdfeat.extractors.beats_model import BEATs, BEATsConfig
from asdfeat.extractors.checkpoints import sha256_file

INPUTS = ["real_fan", "synth_10s"]
ATOL = 1e-4
RTOL = 1e-4


@pytest.fixture(scope="module")
def beats_dir(golden_dir):
    return golden_dir / "beats"


@pytest.fixture(scope="module")
def checkpoint_path(beats_dir):
    return beats_dir / "beats_tiny.pt"


@pytest.fixture(scope="module")
def extractor(checkpoint_path):
    return BEATsExtractor(checkpoint_path, variant="beats-iter3")


@pytest.fixture(scope="module")
def clips(beats_dir):
    return {name: soundfile.read(beats_dir / f"{name}.wav", dtype="float32")[0] for name in INPUTS}


@pytest.fixture(scope="module")
def golden(beats_dir):
    return {name: dict(np.load(beats_dir / f"{name}.npz")) for name in INPUTS}


@pytest.mark.parametrize("name", INPUTS)
def test_features_match_golden(name, extractor, clips, golden):
    waveform = torch.from_numpy(clips[name])[None]
    with torch.inference_mode():
        fbank = extractor.features(waveform)

    expected = golden[name]["fbank"]
    assert fbank.shape == expected.shape
    print(f"{name} fbank max abs diff {max_abs_difference(fbank, expected):.3g}")
    np.testing.assert_allclose(fbank.numpy(), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("name", INPUTS)
def test_tokens_match_golden(name, attention, extractor, golden):
    arrays = golden[name]
    fbank = torch.from_numpy(arrays["fbank"])
    with torch.inference_mode():
        encoder_input = extractor.model.embed_patches(fbank)
        tokens, layers = extractor.model(fbank, attention=attention, return_layers=True)

    np.testing.assert_allclose(encoder_input.numpy(), arrays["debug_encoder_input"], atol=ATOL, rtol=RTOL)
    assert len(layers) == arrays["debug_layer_outputs"].shape[0]
    for layer, expected in zip(layers, arrays["debug_layer_outputs"]):
        np.testing.assert_allclose(layer.numpy(), expected, atol=ATOL, rtol=RTOL)

    print(f"{name} {attention} tokens max abs diff {max_abs_difference(tokens, arrays['tokens']):.3g}")
    np.testing.assert_allclose(tokens.numpy(), arrays["tokens"], atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(tokens.mean(1).numpy(), arrays["pooled_mean"], atol=ATOL, rtol=RTOL)


def test_embed_matches_golden_pooled(extractor, clips, golden):
    embeddings = extractor.embed([clips[name] for name in INPUTS])

    assert embeddings.shape == (2, extractor.dim)
    assert embeddings.dtype == np.float32
    for row, name in enumerate(INPUTS):
        expected = golden[name]["pooled_mean"][0]
        print(f"{name} pooled max abs diff {max_abs_difference(embeddings[row], expected):.3g}")
        np.testing.assert_allclose(embeddings[row], expected, atol=ATOL, rtol=RTOL)


def test_embed_batch_independent(extractor, clips):
    short = clips["synth_10s"][:50000]
    together = extractor.embed([clips["real_fan"], short])
    alone = np.concatenate([extractor.embed([clips["real_fan"]]), extractor.embed([short])])

    np.testing.assert_allclose(together, alone, atol=1e-5, rtol=1e-5)


def test_long_clip_pools_chunks(extractor, clips, golden):
    # Two 10 s chunks of equal token count, plus a remainder too short for a patch.
    tail = clips["real_fan"][:1000]
    long_clip = np.concatenate([clips["real_fan"], clips["synth_10s"], tail])

    embedding = extractor.embed([long_clip])[0]

    expected = (golden["real_fan"]["pooled_mean"][0] + golden["synth_10s"]["pooled_mean"][0]) / 2
    np.testing.assert_allclose(embedding, expected, atol=ATOL, rtol=RTOL)


def test_embed_rejects_short_and_stereo(extractor):
    with pytest.raises(AudioError, match="2800"):
        extractor.embed([np.zeros(2799, dtype=np.float32)])
    with pytest.raises(AudioError, match="mono"):
        extractor.embed([np.zeros((2, 16000), dtype=np.float32)])


@pytest.mark.parametrize("bad_sample", [np.nan, np.inf])
def test_non_finite_samples_rejected(extractor, bad_sample):
    waveform = np.zeros(16000, dtype=np.float32)
    waveform[100] = bad_sample

    with pytest.raises(AudioError, match="NaN or infinite"):
        extractor.embed([waveform])


def test_provenance_records_checkpoint(extractor, checkpoint_path):
    record = extractor.provenance()

    assert record["model"] == "beats-iter3"
    assert record["dim"] == 64
    assert record["checkpoint"] == str(checkpoint_path)
    assert record["checkpoint_sha256"] == sha256_file(checkpoint_path)
    assert record["architecture"]["encoder_layers"] == 2
    assert record["front_end"]["num_mel_bins"] == 128
    assert record["front_end"]["waveform_scale"] == 2**15
    assert record["front_end"]["mean"] == 15.41663
    assert record["pooling"].startswith("mean")


def test_expected_sha256_checked(checkpoint_path):
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        BEATsExtractor(checkpoint_path, variant="beats-iter3", expected_sha256="0" * 64)

    digest = sha256_file(checkpoint_path)
    extractor = BEATsExtractor(checkpoint_path, variant="beats-iter3", expected_sha256=digest)
    assert extractor.checkpoint_sha256 == digest


def test_invalid_options_rejected(checkpoint_path):
    with pytest.raises(ExtractorError, match="dtype"):
        BEATsExtractor(checkpoint_path, variant="beats-iter3", dtype="bfloat16")
    with pytest.raises(ExtractorError, match="attention"):
        BEATsExtractor(checkpoint_path, variant="beats-iter3", attention="flash")
    with pytest.raises(ExtractorError, match="chunk_seconds"):
        BEATsExtractor(checkpoint_path, variant="beats-iter3", chunk_seconds=0.1)


def test_parametrization_key_names_load(checkpoint_path, tmp_path, extractor, clips):
    content = torch.load(checkpoint_path, weights_only=True)
    renamed = {}
    for key, tensor in content["model"].items():
        key = key.replace("pos_conv.0.weight_g", "pos_conv.0.parametrizations.weight.original0")
        key = key.replace("pos_conv.0.weight_v", "pos_conv.0.parametrizations.weight.original1")
        renamed[key] = tensor
    assert "encoder.pos_conv.0.parametrizations.weight.original0" in renamed
    path = tmp_path / "parametrized.pt"
    torch.save({"cfg": content["cfg"], "model": renamed}, path)

    reloaded = BEATsExtractor(path, variant="beats-iter3")

    clip = clips["real_fan"]
    np.testing.assert_array_equal(reloaded.embed([clip]), extractor.embed([clip]))


def test_finetuned_checkpoint_embeds_tokens(checkpoint_path, tmp_path, extractor, clips):
    content = torch.load(checkpoint_path, weights_only=True)
    cfg = dict(content["cfg"], finetuned_model=True, predictor_class=5)
    state = dict(content["model"])
    state["predictor.weight"] = torch.randn(5, cfg["encoder_embed_dim"])
    state["predictor.bias"] = torch.randn(5)
    path = tmp_path / "finetuned.pt"
    torch.save({"cfg": cfg, "model": state, "label_dict": {0: "/m/09x0r"}}, path)

    finetuned = BEATsExtractor(path, variant="beats-iter3")

    clip = clips["synth_10s"]
    np.testing.assert_array_equal(finetuned.embed([clip]), extractor.embed([clip]))


def test_inconsistent_shared_bias_rejected(checkpoint_path, tmp_path):
    content = torch.load(checkpoint_path, weights_only=True)
    key = "encoder.layers.1.self_attn.relative_attention_bias.weight"
    content["model"][key] = content["model"][key] + 1.0
    path = tmp_path / "inconsistent.pt"
    torch.save(content, path)

    with pytest.raises(CheckpointError, match="shared tensor differs"):
        load_beats(path)


def test_wrong_layout_rejected(checkpoint_path, tmp_path):
    content = torch.load(checkpoint_path, weights_only=True)
    flat = tmp_path / "flat.pt"
    torch.save(content["model"], flat)
    with pytest.raises(CheckpointError, match="'cfg' and 'model'"):
        load_beats(flat)

    del content["model"]["encoder.layer_norm.bias"]
    truncated = tmp_path / "truncated.pt"
    torch.save(content, truncated)
    with pytest.raises(CheckpointError, match="missing key: encoder.layer_norm.bias"):
        load_beats(truncated)


@pytest.mark.parametrize("manifest_name", ["beats_base_pretrained.json", "beats_base_finetuned_as2m.json"])
def test_released_size_matches_manifest(manifest_name, beats_dir):
    manifest = json.loads((beats_dir / "key_manifests" / manifest_name).read_text())
    with torch.device("meta"):
        model = BEATs(BEATsConfig.from_dict(manifest["cfg"]))

    state = model.state_dict(keep_vars=True)
    assert list(state) == [entry["key"] for entry in manifest["keys"]]
    for entry in manifest["keys"]:
        tensor = state[entry["key"]]
        assert list(tensor.shape) == entry["shape"], entry["key"]
        assert str(tensor.dtype).removeprefix("torch.") == entry["dtype"], entry["key"]
        assert isinstance(tensor, torch.nn.Parameter) == (entry["kind"] == "parameter"), entry["key"]

    expected_shared = {entry["key"]: entry.get("same_tensor_as") for entry in manifest["keys"]}
    assert _shared_keys(model) == expected_shared

    unique = sum(parameter.numel() for parameter in model.parameters())
    assert unique == manifest["num_parameters_unique"]


def _shared_keys(model: torch.nn.Module) -> dict:
    first_name = {}
    shared = {}
    named = list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False))
    for name, tensor in named:
        shared[name] = first_name.get(id(tensor))
        first_name.setdefault(id(tensor), name)
    return shared


def test_pipeline_stores_golden_embedding(golden_dir, checkpoint_path, tmp_path, golden):
    import shutil

    from asdfeat.extract import run_extraction
    from asdfeat.store import EmbeddingKey, open_store

    clip_dir = tmp_path / "dev_data" / "fan" / "test"
    clip_dir.mkdir(parents=True)
    shutil.copy(golden_dir / "beats" / "real_fan.wav", clip_dir / "normal_id_00_00000030.wav")
    store_path = tmp_path / "store.zarr"

    run_extraction(tmp_path / "dev_data", store_path, "beats-iter3", checkpoint=checkpoint_path)

    with open_store(store_path, "r") as store:
        embeddings, clips = store.read_embeddings(EmbeddingKey("beats-iter3", "dcase2020", "fan"))
        provenance = store.read_provenance(EmbeddingKey("beats-iter3", "dcase2020", "fan"))
    assert embeddings.shape == (1, 64)
    np.testing.assert_allclose(embeddings[0], golden["real_fan"]["pooled_mean"][0], atol=ATOL, rtol=RTOL)
    assert provenance["checkpoint_sha256"] == sha256_file(checkpoint_path)
