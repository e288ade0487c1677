"""Parity of the CED model and extractor with the reference code's golden arrays.

The golden folder contains a tiny random-weight checkpoint (a flat state dict
with non-trivial BatchNorm statistics) and its ``config.json``, two 10 s
inputs with the arrays the reference produced for them, and key manifests of
the four released sizes.
"""

import json
import shutil

import numpy as np
import pytest
import soundfile
import torch
import torchaudio
from extractor_helpers import (
    assert_batch_matches_single_clips,
    assert_model_matches_manifest,
    extract_one_fan_clip,
    max_abs_difference,
)

from asdfeat.errors import AudioError, CheckpointError, ExtractorError
from asdfeat.extractors.ced import CEDExtractor, load_ced
from asdfeat.extractors.ced_model import CEDConfig, CEDModel
from asdfeat.extractors.checkpoints import sha256_file
from asdfeat.extractors.registry import create_extractor

INPUTS = ["real_fan", "synth_10s"]
ATOL = 1e-4
RTOL = 1e-4
MANIFESTS = ["ced_tiny", "ced_mini", "ced_small", "ced_base"]


@pytest.fixture(scope="module")
def ced_dir(golden_dir):
    return golden_dir / "ced"


@pytest.fixture(scope="module")
def extractor(ced_dir):
    return CEDExtractor(ced_dir / "ced_tiny.pt", variant="ced-tiny")


@pytest.fixture(scope="module")
def clips(ced_dir):
    return {name: soundfile.read(ced_dir / f"{name}.wav", dtype="float32")[0] for name in INPUTS}


@pytest.fixture(scope="module")
def golden(ced_dir):
    return {name: dict(np.load(ced_dir / f"{name}.npz")) for name in INPUTS}


@pytest.fixture(scope="module")
def state_dict(ced_dir):
    return torch.load(ced_dir / "ced_tiny.pt", weights_only=True)


def _features(extractor, clip):
    return extractor.features(torch.from_numpy(clip)[None], torch.tensor([len(clip)]))


def _reference_decibels(clip: np.ndarray, top_db: float = 120.0) -> torch.Tensor:
    """Run torchaudio's MelSpectrogram and AmplitudeToDB on one clip, as the reference front end does."""
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=512, win_length=512, hop_length=160, f_min=0, f_max=8000, n_mels=64, center=True
    )
    to_db = torchaudio.transforms.AmplitudeToDB(top_db=top_db)
    return to_db(mel(torch.from_numpy(clip)[None]))


def _save_checkpoint_with_config(tmp_path, ced_dir, state) -> str:
    path = tmp_path / "ced.pt"
    torch.save(state, path)
    shutil.copy(ced_dir / "config.json", tmp_path / "config.json")
    return path


@pytest.mark.parametrize("name", INPUTS)
def test_decibels_match_golden(name, extractor, clips, golden):
    clip = clips[name]
    decibels, n_frames = extractor.decibels(torch.from_numpy(clip)[None], torch.tensor([len(clip)]))

    expected = golden[name]["features_db"]
    assert decibels.shape == expected.shape
    assert n_frames.tolist() == [expected.shape[-1]]
    print(f"{name} features_db max abs diff {max_abs_difference(decibels, expected):.3g}")
    np.testing.assert_allclose(decibels.numpy(), expected, atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("name", INPUTS)
def test_normalised_features_match_golden(name, extractor, clips, golden):
    spectrogram, _ = _features(extractor, clips[name])

    expected = golden[name]["features_bn"]
    assert spectrogram.shape == expected.shape
    print(f"{name} features_bn max abs diff {max_abs_difference(spectrogram, expected):.3g}")
    np.testing.assert_allclose(spectrogram.numpy(), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", INPUTS)
def test_layers_match_golden(name, extractor, golden):
    arrays = golden[name]
    model = extractor.model
    with torch.inference_mode():
        x = model.patch_embed.proj(torch.from_numpy(arrays["features_bn"]))
        x = (x + model.time_pos_embed[..., : x.shape[-1]] + model.freq_pos_embed).flatten(2).transpose(1, 2)
        np.testing.assert_allclose(x.numpy(), arrays["debug_block_input"], atol=ATOL, rtol=RTOL)

        assert len(model.blocks) == arrays["debug_layer_outputs"].shape[0]
        for block, expected in zip(model.blocks, arrays["debug_layer_outputs"]):
            x = block(x)
            np.testing.assert_allclose(x.numpy(), expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", INPUTS)
def test_tokens_match_golden(name, extractor, golden):
    tokens = extractor.encode(torch.from_numpy(golden[name]["features_bn"]))

    expected = golden[name]["tokens"]
    assert tokens.shape == expected.shape
    print(f"{name} tokens max abs diff {max_abs_difference(tokens, expected):.3g}")
    np.testing.assert_allclose(tokens.numpy(), expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", INPUTS)
def test_pooled_embedding_matches_golden(name, extractor, clips, golden):
    pooled = extractor.embed([clips[name]])

    expected = golden[name]["pooled_mean"]
    assert pooled.shape == expected.shape
    assert pooled.dtype == np.float32
    print(f"{name} pooled_mean max abs diff {max_abs_difference(pooled, expected):.3g}")
    np.testing.assert_allclose(pooled, expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", INPUTS)
def test_classifier_matches_golden(name, extractor, golden):
    arrays = golden[name]
    with torch.inference_mode():
        logits = extractor.model.classify(torch.from_numpy(arrays["pooled_per_chunk"]))

    np.testing.assert_allclose(logits.numpy(), arrays["logits_per_chunk"], atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(logits.sigmoid().mean(0, keepdim=True).numpy(), arrays["probs"], atol=ATOL, rtol=RTOL)


def test_top_db_per_clip_in_batch(extractor, clips):
    # A quiet short clip and a loud long one: a batch-wide top_db clamp would change the quiet one.
    quiet = clips["real_fan"][:40_000] * 1e-4
    loud = clips["synth_10s"]
    decibels, n_frames = extractor.decibels(
        torch.stack([torch.from_numpy(np.pad(quiet, (0, len(loud) - len(quiet)))), torch.from_numpy(loud)]),
        torch.tensor([len(quiet), len(loud)]),
    )

    assert n_frames.tolist() == [251, 1001]
    for row, clip in enumerate([quiet, loud]):
        expected = _reference_decibels(clip)[0]
        actual = decibels[row, :, : n_frames[row]]
        np.testing.assert_allclose(actual.numpy(), expected.numpy(), atol=ATOL, rtol=1e-5)


def test_batch_of_mixed_lengths(extractor, clips):
    assert_batch_matches_single_clips(extractor, clips)


def _reference_chunk_means(extractor, spectrogram: torch.Tensor, limit: int = 1012) -> torch.Tensor:
    """Cut a (1, 1, 64, T) spectrogram as the reference does, keeping a full last chunk."""
    pieces = list(spectrogram.split(limit, dim=-1))
    if pieces[-1].shape[-1] < limit:
        padded = torch.zeros(*spectrogram.shape[:-1], limit)
        padded[..., : pieces[-1].shape[-1]] = pieces[-1]
        pieces[-1] = padded
    chunks = torch.cat(pieces, dim=0)
    return extractor.encode(chunks).mean(dim=1)


def test_long_clip_pads_last_chunk(extractor, clips):
    # 25 s: 2,501 frames, so two full chunks and one of 477 frames padded after BatchNorm.
    long = np.concatenate([clips["real_fan"], clips["synth_10s"], clips["real_fan"][:80_000]])
    spectrogram, n_frames = _features(extractor, long)
    chunk_means = _reference_chunk_means(extractor, spectrogram)

    assert n_frames.tolist() == [2501]
    assert chunk_means.shape[0] == 3
    np.testing.assert_allclose(extractor.embed([long])[0], chunk_means.mean(0).numpy(), atol=ATOL, rtol=RTOL)


def test_exact_multiple_keeps_last_chunk(extractor, clips):
    # 2 x 1,012 frames: the reference would drop the second chunk; here both count.
    samples = (2 * 1012 - 1) * 160
    long = np.concatenate([clips["real_fan"], clips["synth_10s"], clips["real_fan"]])[:samples]
    spectrogram, n_frames = _features(extractor, long)
    chunk_means = _reference_chunk_means(extractor, spectrogram)

    assert n_frames.tolist() == [2024]
    assert chunk_means.shape[0] == 2
    embedding = extractor.embed([long])[0]
    np.testing.assert_allclose(embedding, chunk_means.mean(0).numpy(), atol=ATOL, rtol=RTOL)
    assert not np.allclose(embedding, chunk_means[0].numpy(), atol=1e-3)


def test_wrapped_state_dict_loads(tmp_path, ced_dir, state_dict, clips, golden):
    path = _save_checkpoint_with_config(tmp_path, ced_dir, {"model": state_dict})

    wrapped = CEDExtractor(path, variant="ced-tiny")

    np.testing.assert_allclose(wrapped.embed([clips["real_fan"]]), golden["real_fan"]["pooled_mean"], atol=ATOL)


def test_checkpoint_mel_matrix_is_used(tmp_path, ced_dir, state_dict, extractor, clips):
    # Doubling the mel matrix adds 10 log10(2) dB wherever the top_db clamp does not bind.
    state = dict(state_dict)
    state["front_end.0.mel_scale.fb"] = state["front_end.0.mel_scale.fb"] * 2
    doubled = CEDExtractor(_save_checkpoint_with_config(tmp_path, ced_dir, state), variant="ced-tiny")

    clip = torch.from_numpy(clips["real_fan"])[None]
    lengths = torch.tensor([clip.shape[1]])
    difference = doubled.decibels(clip, lengths)[0] - extractor.decibels(clip, lengths)[0]

    np.testing.assert_allclose(difference.numpy(), 10 * np.log10(2.0), atol=1e-3)


def test_checkpoint_batch_norm_is_used(tmp_path, ced_dir, state_dict, extractor, clips):
    state = dict(state_dict)
    state["init_bn.1.running_mean"] = state["init_bn.1.running_mean"] + 1.0
    shifted = CEDExtractor(_save_checkpoint_with_config(tmp_path, ced_dir, state), variant="ced-tiny")

    scale = state["init_bn.1.weight"] / torch.sqrt(state["init_bn.1.running_var"] + 1e-5)
    difference = _features(shifted, clips["synth_10s"])[0] - _features(extractor, clips["synth_10s"])[0]

    np.testing.assert_allclose(difference[0, 0].numpy(), (-scale[:, None]).expand(64, 1001).numpy(), atol=1e-4)


@pytest.mark.parametrize("key", ["front_end.0.spectrogram.window", "init_bn.1.num_batches_tracked", "outputlayer.1.bias"])
def test_missing_key_rejected(tmp_path, ced_dir, state_dict, key):
    state = dict(state_dict)
    del state[key]

    with pytest.raises(CheckpointError, match=f"missing key: {key}"):
        load_ced(_save_checkpoint_with_config(tmp_path, ced_dir, state), variant="ced-tiny")


def test_unexpected_key_rejected(tmp_path, ced_dir, state_dict):
    state = dict(state_dict)
    state["cls_token"] = torch.zeros(1, 1, 64)

    with pytest.raises(CheckpointError, match="unexpected key: cls_token"):
        load_ced(_save_checkpoint_with_config(tmp_path, ced_dir, state), variant="ced-tiny")


def test_missing_config_uses_released_size(tmp_path, ced_dir):
    path = tmp_path / "ced_tiny.pt"
    shutil.copy(ced_dir / "ced_tiny.pt", path)

    # The tiny tensors cannot fit the released mini size, so the error proves which size was built.
    with pytest.raises(CheckpointError, match=r"shape mismatch for norm.weight.*\(256,\)"):
        CEDExtractor(path, variant="ced-mini")


def test_missing_checkpoint_named(tmp_path):
    with pytest.raises(CheckpointError, match="not_here.pt"):
        CEDExtractor(tmp_path / "not_here.pt", variant="ced-tiny")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"variant": "ced-huge"}, "invalid CED variant"),
        ({"dtype": "float64"}, "invalid dtype"),
        ({"dtype": "float16"}, "needs a CUDA device"),
    ],
)
def test_invalid_options_rejected(ced_dir, options, message):
    with pytest.raises(ExtractorError, match=message):
        CEDExtractor(ced_dir / "ced_tiny.pt", **options)


def test_invalid_clips_rejected(extractor):
    with pytest.raises(AudioError, match="at least 2400"):
        extractor.embed([np.zeros(2399, dtype=np.float32)])
    with pytest.raises(AudioError, match="mono"):
        extractor.embed([np.zeros((2, 16000), dtype=np.float32)])
    with pytest.raises(AudioError, match="NaN"):
        extractor.embed([np.full(16000, np.inf, dtype=np.float32)])


def test_shortest_clip_gives_one_patch_row(extractor):
    embedding = extractor.embed([np.random.default_rng(0).normal(0, 0.1, 2400).astype(np.float32)])

    assert embedding.shape == (1, extractor.dim)
    assert np.isfinite(embedding).all()


def test_empty_batch(extractor):
    assert extractor.embed([]).shape == (0, extractor.dim)


def test_provenance(extractor):
    record = extractor.provenance()

    assert record["model"] == "ced-tiny"
    assert record["dim"] == 64
    assert record["checkpoint_sha256"] == sha256_file(extractor.checkpoint)
    assert record["architecture"]["embed_dim"] == 64
    assert record["front_end"]["top_db"] == 120.0
    assert record["front_end"]["n_mels"] == 64
    assert record["chunk_frames"] == 1012


def test_registry_builds_ced(ced_dir, clips, golden):
    extractor = create_extractor("ced-base", checkpoint=ced_dir / "ced_tiny.pt")

    assert extractor.name == "ced-base"
    assert extractor.dim == 64
    np.testing.assert_allclose(extractor.embed([clips["synth_10s"]]), golden["synth_10s"]["pooled_mean"], atol=ATOL)


@pytest.mark.parametrize("manifest_name", MANIFESTS)
def test_released_keys_match_manifest(manifest_name, ced_dir):
    manifest = json.loads((ced_dir / "key_manifests" / f"{manifest_name}.json").read_text())
    with torch.device("meta"):
        model = CEDModel(CEDConfig.from_dict(manifest["constructor_kwargs"]))

    assert_model_matches_manifest(model, manifest)


def test_pipeline_stores_golden_embedding(tmp_path, ced_dir, golden):
    embeddings, table = extract_one_fan_clip(tmp_path, ced_dir / "real_fan.wav", "ced-tiny", ced_dir / "ced_tiny.pt")

    assert embeddings.shape == (1, 64)
    assert len(table) == 1
    np.testing.assert_allclose(embeddings, golden["real_fan"]["pooled_mean"], atol=ATOL, rtol=RTOL)
