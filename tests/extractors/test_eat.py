"""Parity of the EAT model and extractor with the reference code's golden arrays.

The golden folder contains a tiny random-weight checkpoint in the layout of
the authors' Hugging Face port and the fairseq name of every key. It also
contains two 10 s inputs with the arrays the reference produced for them, and
key manifests of the released base and large sizes.
"""

import json
import logging
import shutil
from argparse import Namespace

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
from safetensors.torch import load_file

from asdfeat.errors import AudioError, CheckpointError, ExtractorError
from asdfeat.extractors.checkpoints import sha256_file
from asdfeat.extractors.eat import EATExtractor, load_eat
from asdfeat.extractors.eat_model import EATConfig, EATModel, map_fairseq_state_dict
from asdfeat.extractors.registry import create_extractor

INPUTS = ["real_fan", "synth_10s"]
ATOL = 1e-4
RTOL = 1e-4
MANIFESTS = ["eat_base_pretrain_hf", "eat_base_finetune_hf", "eat_large_pretrain_hf", "eat_large_finetune_hf"]


@pytest.fixture(scope="module")
def eat_dir(golden_dir):
    return golden_dir / "eat"


@pytest.fixture(scope="module")
def extractor(eat_dir):
    return EATExtractor(eat_dir / "hf", variant="eat-base")


@pytest.fixture(scope="module")
def clips(eat_dir):
    return {name: soundfile.read(eat_dir / f"{name}.wav", dtype="float32")[0] for name in INPUTS}


@pytest.fixture(scope="module")
def golden(eat_dir):
    return {name: dict(np.load(eat_dir / f"{name}.npz")) for name in INPUTS}


@pytest.fixture(scope="module")
def port_state_dict(eat_dir):
    return load_file(eat_dir / "hf" / "model.safetensors")


@pytest.fixture(scope="module")
def fairseq_names(eat_dir):
    return json.loads((eat_dir / "fairseq_key_map.json").read_text())


def _reference_mel(waveform: np.ndarray) -> torch.Tensor:
    """Run the authors' recipe with torchaudio's per-clip fbank, without the 1,024-frame cut."""
    source = torch.from_numpy(waveform.astype(np.float64)).float()
    source = source - source.mean()
    return torchaudio.compliance.kaldi.fbank(
        source[None],
        htk_compat=True,
        sample_frequency=16000,
        use_energy=False,
        window_type="hanning",
        num_mel_bins=128,
        dither=0.0,
        frame_shift=10,
    )


def _golden_tokens(extractor, golden, name):
    return extractor.encode(torch.from_numpy(golden[name]["mel"]))


@pytest.mark.parametrize("name", INPUTS)
def test_features_match_golden(name, extractor, clips, golden):
    waveform = torch.from_numpy(clips[name])[None]
    mel, owners = extractor.features(waveform, torch.tensor([len(clips[name])]))

    expected = golden[name]["mel"]
    assert mel.shape == expected.shape
    assert owners.tolist() == [0]
    print(f"{name} mel max abs diff {max_abs_difference(mel, expected):.3g}")
    np.testing.assert_allclose(mel.numpy(), expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", INPUTS)
def test_frame_count_matches_golden(name, extractor, clips, golden):
    waveform = torch.from_numpy(clips[name])[None]
    _, n_frames = extractor.front_end(waveform, torch.tensor([len(clips[name])]))

    assert int(n_frames[0]) == int(golden[name]["n_frames_before_pad_or_trim"])


@pytest.mark.parametrize("name", INPUTS)
def test_layers_match_golden(name, extractor, golden):
    arrays = golden[name]
    with torch.inference_mode():
        x = extractor.model.model.embed_patches(torch.from_numpy(arrays["mel"]))
        np.testing.assert_allclose(x.numpy(), arrays["debug_block_input"], atol=ATOL, rtol=RTOL)

        assert len(extractor.model.model.blocks) == arrays["debug_layer_outputs"].shape[0]
        for block, expected in zip(extractor.model.model.blocks, arrays["debug_layer_outputs"]):
            x = block(x)
            np.testing.assert_allclose(x.numpy(), expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", INPUTS)
def test_tokens_match_golden(name, extractor, golden):
    tokens = _golden_tokens(extractor, golden, name)

    expected = golden[name]["tokens"]
    assert tokens.shape == expected.shape
    print(f"{name} tokens max abs diff {max_abs_difference(tokens, expected):.3g}")
    np.testing.assert_allclose(tokens.numpy(), expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", INPUTS)
def test_pooled_embeddings_match_golden(name, extractor, clips, golden):
    pooled = extractor.embed_pooled([clips[name]])

    for pooling in ("patch_mean", "cls"):
        expected = golden[name][pooling]
        assert pooled[pooling].shape == expected.shape
        assert pooled[pooling].dtype == np.float32
        print(f"{name} {pooling} max abs diff {max_abs_difference(pooled[pooling], expected):.3g}")
        np.testing.assert_allclose(pooled[pooling], expected, atol=ATOL, rtol=RTOL)


def test_embed_uses_configured_pooling(eat_dir, extractor, clips, golden):
    cls_extractor = EATExtractor(eat_dir / "hf" / "model.safetensors", variant="eat-base", pooling="cls")

    np.testing.assert_allclose(extractor.embed([clips["real_fan"]]), golden["real_fan"]["patch_mean"], atol=ATOL)
    np.testing.assert_allclose(cls_extractor.embed([clips["real_fan"]]), golden["real_fan"]["cls"], atol=ATOL)


def test_batch_of_mixed_lengths(extractor, clips):
    assert_batch_matches_single_clips(extractor, clips)


def test_long_clip_averages_chunks(extractor, clips):
    # 25 s: 2,498 frames, so two full chunks and one of 450 frames padded with zeros.
    long = np.concatenate([clips["real_fan"], clips["synth_10s"], clips["real_fan"][:80_000]])
    fbank = _reference_mel(long)
    chunks = list(fbank.split(1024))
    chunks[-1] = torch.nn.functional.pad(chunks[-1], (0, 0, 0, 1024 - len(chunks[-1])))
    mel = (torch.stack(chunks)[:, None] - (-4.268)) / (4.569 * 2)

    tokens = extractor.encode(mel)
    expected = tokens[:, 1:].mean(dim=1).mean(dim=0).numpy()

    assert len(chunks) == 3
    np.testing.assert_allclose(extractor.embed([long])[0], expected, atol=ATOL, rtol=RTOL)


def test_fairseq_pretraining_layout(tmp_path, port_state_dict, fairseq_names, extractor, golden, caplog):
    state_dict = {fairseq_names[key]["fairseq_pretrain"]: value for key, value in port_state_dict.items()}
    state_dict["modality_encoders.IMAGE.decoder.blocks.0.0.weight"] = torch.zeros(64, 4, 3, 3)
    state_dict["modality_encoders.IMAGE.decoder.proj.bias"] = torch.zeros(64)
    state_dict["_ema"] = {"blocks.0.norm1.weight": torch.zeros(64)}
    path = tmp_path / "eat_pretrain.pt"
    torch.save({"model": state_dict}, path)
    shutil.copy(extractor.checkpoint.parent / "config.json", tmp_path / "config.json")

    with caplog.at_level(logging.INFO, logger="asdfeat.extractors.eat_model"):
        fairseq_extractor = EATExtractor(path, variant="eat-base")

    assert "dropped 3 fairseq training-only keys" in caplog.text
    tokens = _golden_tokens(fairseq_extractor, golden, "real_fan")
    np.testing.assert_allclose(tokens.numpy(), golden["real_fan"]["tokens"], atol=ATOL, rtol=RTOL)


def test_fairseq_finetuning_layout(tmp_path, port_state_dict, fairseq_names, golden):
    state_dict = {fairseq_names[key]["fairseq_finetune"]: value for key, value in port_state_dict.items()}
    state_dict.update(
        {
            "fc_norm.weight": torch.ones(64),
            "fc_norm.bias": torch.zeros(64),
            "head.weight": torch.zeros(10, 64),
            "head.bias": torch.zeros(10),
        }
    )
    path = tmp_path / "eat_finetune.pt"
    torch.save(state_dict, path)
    config = {"embed_dim": 64, "depth": 2, "num_heads": 4, "model_variant": "finetune", "num_classes": 10}
    (tmp_path / "config.json").write_text(json.dumps(config))

    finetuned = EATExtractor(path, variant="eat-base")

    assert finetuned.model.config.model_variant == "finetune"
    assert torch.equal(finetuned.model.model.head.weight, torch.zeros(10, 64))
    tokens = _golden_tokens(finetuned, golden, "synth_10s")
    np.testing.assert_allclose(tokens.numpy(), golden["synth_10s"]["tokens"], atol=ATOL, rtol=RTOL)


def test_fairseq_unknown_key_rejected(tmp_path, port_state_dict, fairseq_names):
    state_dict = {fairseq_names[key]["fairseq_pretrain"]: value for key, value in port_state_dict.items()}
    state_dict["modality_encoders.IMAGE.alibi_scale"] = torch.zeros(1)
    path = tmp_path / "eat.pt"
    torch.save(state_dict, path)

    with pytest.raises(CheckpointError, match="modality_encoders.IMAGE.alibi_scale"):
        load_eat(path, None)


def test_port_unexpected_key_rejected(tmp_path, eat_dir, port_state_dict):
    state_dict = dict(port_state_dict)
    state_dict["model.extra.weight"] = torch.zeros(3)
    path = tmp_path / "eat.pt"
    torch.save(state_dict, path)

    with pytest.raises(CheckpointError, match="unexpected key: model.extra.weight"):
        load_eat(path, eat_dir / "hf" / "config.json")


def test_port_missing_key_rejected(tmp_path, eat_dir, port_state_dict):
    state_dict = dict(port_state_dict)
    del state_dict["model.fixed_positional_encoder.positions"]
    path = tmp_path / "eat.pt"
    torch.save(state_dict, path)

    with pytest.raises(CheckpointError, match="missing key: model.fixed_positional_encoder.positions"):
        load_eat(path, eat_dir / "hf" / "config.json")


def test_missing_config_uses_released_size(tmp_path, eat_dir):
    path = tmp_path / "model.safetensors"
    shutil.copy(eat_dir / "hf" / "model.safetensors", path)

    # The tiny tensors cannot fit the released base size, so the error proves which size was built.
    with pytest.raises(CheckpointError, match=r"shape mismatch for model.extra_tokens.*\(1, 1, 768\)"):
        EATExtractor(tmp_path, variant="eat-base")


def test_other_mel_bins_rejected(tmp_path, eat_dir):
    shutil.copy(eat_dir / "hf" / "model.safetensors", tmp_path / "model.safetensors")
    config = json.loads((eat_dir / "hf" / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "mel_bins": 64}))

    with pytest.raises(CheckpointError, match="mel_bins 64"):
        EATExtractor(tmp_path, variant="eat-base")


def test_pickled_objects_rejected(tmp_path):
    path = tmp_path / "fairseq_checkpoint.pt"
    torch.save({"cfg": Namespace(task="pretraining"), "model": {}}, path)

    with pytest.raises(CheckpointError, match="cannot be loaded safely") as caught:
        EATExtractor(path, variant="eat-base")
    assert "torch.load(path, weights_only=False)['model']" in str(caught.value)


def test_missing_checkpoint_named(tmp_path):
    with pytest.raises(CheckpointError, match="not_here"):
        EATExtractor(tmp_path / "not_here", variant="eat-base")


def test_folder_without_weights_rejected(tmp_path):
    with pytest.raises(CheckpointError, match="contains none of"):
        EATExtractor(tmp_path, variant="eat-base")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"variant": "eat-huge"}, "invalid EAT variant"),
        ({"pooling": "max"}, "invalid EAT pooling"),
        ({"dtype": "float64"}, "invalid dtype"),
        ({"dtype": "bfloat16"}, "needs a CUDA device"),
    ],
)
def test_invalid_options_rejected(eat_dir, options, message):
    with pytest.raises(ExtractorError, match=message):
        EATExtractor(eat_dir / "hf", **options)


def test_invalid_clips_rejected(extractor):
    with pytest.raises(AudioError, match="at least 400"):
        extractor.embed([np.zeros(399, dtype=np.float32)])
    with pytest.raises(AudioError, match="mono"):
        extractor.embed([np.zeros((2, 16000), dtype=np.float32)])
    with pytest.raises(AudioError, match="NaN"):
        extractor.embed([np.full(16000, np.nan, dtype=np.float32)])


def test_empty_batch(extractor):
    assert extractor.embed([]).shape == (0, extractor.dim)


def test_provenance(extractor):
    record = extractor.provenance()

    assert record["model"] == "eat-base"
    assert record["dim"] == 64
    assert record["pooling"] == "patch_mean"
    assert record["checkpoint_sha256"] == sha256_file(extractor.checkpoint)
    assert record["architecture"]["depth"] == 2
    assert record["front_end"]["window_type"] == "hanning"
    assert record["front_end"]["htk_compat"] is True
    assert record["front_end"]["target_frames"] == 1024


def test_registry_builds_eat(eat_dir, clips, golden):
    extractor = create_extractor("eat-large", checkpoint=eat_dir / "hf", pooling="cls")

    assert extractor.name == "eat-large"
    assert extractor.dim == 64
    np.testing.assert_allclose(extractor.embed([clips["synth_10s"]]), golden["synth_10s"]["cls"], atol=ATOL)


@pytest.mark.parametrize("manifest_name", MANIFESTS)
def test_released_keys_match_manifest(manifest_name, eat_dir):
    manifest = json.loads((eat_dir / "key_manifests" / f"{manifest_name}.json").read_text())
    with torch.device("meta"):
        model = EATModel(EATConfig.from_dict(manifest["config"]))

    assert_model_matches_manifest(model, manifest)


@pytest.mark.parametrize("manifest_name", MANIFESTS)
def test_fairseq_names_map_onto_manifest(manifest_name, eat_dir):
    manifest = json.loads((eat_dir / "key_manifests" / f"{manifest_name}.json").read_text())
    fairseq_state = {entry["fairseq_key"]: torch.empty(0) for entry in manifest["keys"]}
    training_only = manifest.get("fairseq_pretrain_only_keys_not_in_hf", {}).get("keys", [])
    for entry in training_only:
        fairseq_state[entry["key"]] = torch.empty(0)

    mapped = map_fairseq_state_dict(fairseq_state, source=manifest_name)

    assert sorted(mapped) == sorted(entry["key"] for entry in manifest["keys"])


def test_pipeline_stores_golden_embedding(tmp_path, eat_dir, golden):
    embeddings, table = extract_one_fan_clip(tmp_path, eat_dir / "real_fan.wav", "eat-base", eat_dir / "hf")

    assert embeddings.shape == (1, 64)
    assert len(table) == 1
    np.testing.assert_allclose(embeddings, golden["real_fan"]["patch_mean"], atol=ATOL, rtol=RTOL)
