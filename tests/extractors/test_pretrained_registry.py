"""Tests of the pretrained-model registry entries and checkpoint configuration."""

import hashlib

import pytest
from typer.testing import CliRunner

from asdfeat.errors import CheckpointError, ExtractorError
from asdfeat.extractors import available_models, create_extractor, model_info
from asdfeat.extractors.config import checkpoint_env_var, resolve_checkpoint

RELEASED = {
    "beats-iter3": (768, 48.0),
    "beats-iter3+": (768, 48.6),
    "eat-base": (768, 48.9),
    "eat-large": (1024, 49.5),
    "ced-tiny": (192, 48.1),
    "ced-mini": (256, 49.0),
    "ced-small": (384, 49.6),
    "ced-base": (768, 50.0),
}


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    """Point the config file at an empty temporary path and clear model variables."""
    config = tmp_path / "config.toml"
    config.write_text("")
    monkeypatch.setenv("ASDFEAT_CONFIG", str(config))
    for name in RELEASED:
        monkeypatch.delenv(checkpoint_env_var(name), raising=False)
    return config


@pytest.fixture(scope="module")
def golden_checkpoint(golden_dir):
    return golden_dir / "beats" / "beats_tiny.pt"


def test_registry_lists_eight_encoders():
    infos = {info.name: info for info in available_models()}

    for name, (dim, audioset_map) in RELEASED.items():
        info = infos[name]
        assert info.family == "pretrained"
        assert info.dim == dim
        assert info.proxy_metric == "audioset_map"
        assert info.proxy_value == audioset_map
        assert model_info(name) == info


def test_env_var_name_rule():
    assert checkpoint_env_var("beats-iter3+") == "ASDFEAT_CHECKPOINT_BEATS_ITER3_PLUS"
    assert checkpoint_env_var("beats-iter3") == "ASDFEAT_CHECKPOINT_BEATS_ITER3"
    assert checkpoint_env_var("eat-large") == "ASDFEAT_CHECKPOINT_EAT_LARGE"
    assert checkpoint_env_var("ced-tiny") == "ASDFEAT_CHECKPOINT_CED_TINY"


def test_missing_checkpoint_names_official_file():
    with pytest.raises(CheckpointError) as error:
        resolve_checkpoint("beats-iter3+")
    message = str(error.value)
    assert "BEATs_iter3_plus_AS2M.pt" in message
    assert "github.com/microsoft/unilm" in message
    assert "ASDFEAT_CHECKPOINT_BEATS_ITER3_PLUS" in message

    with pytest.raises(CheckpointError, match="audiotransformer_mini_mAP_4896.pt"):
        create_extractor("ced-mini", checkpoint="/nonexistent/ced.pt")
    with pytest.raises(CheckpointError, match="worstchan/EAT-base_epoch30_pretrain"):
        create_extractor("eat-base")


def test_resolution_order(tmp_path, monkeypatch, isolated_config):
    from_config = tmp_path / "models" / "from_config.pt"
    from_env = tmp_path / "from_env.pt"
    explicit = tmp_path / "explicit.pt"
    for path in (from_config, from_env, explicit):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"x")
    isolated_config.write_text('[checkpoints]\n"beats-iter3" = "models/from_config.pt"\n')

    resolved = resolve_checkpoint("beats-iter3")
    assert resolved.path == from_config
    assert "checkpoints table" in resolved.source

    monkeypatch.setenv("ASDFEAT_CHECKPOINT_BEATS_ITER3", str(from_env))
    resolved = resolve_checkpoint("beats-iter3")
    assert resolved.path == from_env
    assert resolved.source == "$ASDFEAT_CHECKPOINT_BEATS_ITER3"

    resolved = resolve_checkpoint("beats-iter3", explicit)
    assert resolved.path == explicit
    assert resolved.source == "--checkpoint"


def test_invalid_config_rejected(isolated_config, monkeypatch, tmp_path):
    isolated_config.write_text("[checkpoints\n")
    with pytest.raises(ExtractorError, match="invalid TOML"):
        resolve_checkpoint("beats-iter3")

    isolated_config.write_text("[checkpoints]\nced-tiny = 3\n")
    with pytest.raises(ExtractorError, match="checkpoints table must map"):
        resolve_checkpoint("ced-tiny")

    monkeypatch.setenv("ASDFEAT_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ExtractorError, match="absent.toml"):
        resolve_checkpoint("ced-tiny")


def test_create_from_config_with_hash(golden_checkpoint, isolated_config):
    digest = hashlib.sha256(golden_checkpoint.read_bytes()).hexdigest()
    isolated_config.write_text(
        f'[checkpoints]\n"beats-iter3+" = "{golden_checkpoint}"\n[sha256]\n"beats-iter3+" = "{digest}"\n'
    )

    extractor = create_extractor("beats-iter3+")

    assert extractor.name == "beats-iter3+"
    assert extractor.dim == 64
    assert extractor.provenance()["checkpoint_sha256"] == digest


def test_configured_hash_mismatch_raises(golden_checkpoint, isolated_config):
    isolated_config.write_text(f'[sha256]\n"beats-iter3" = "{"0" * 64}"\n')

    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        create_extractor("beats-iter3", checkpoint=golden_checkpoint)


def test_models_command_lists_checkpoints(golden_checkpoint, isolated_config, monkeypatch):
    from asdfeat.cli import app

    isolated_config.write_text(f'[checkpoints]\n"beats-iter3" = "{golden_checkpoint}"\nced-mini = "gone.pt"\n')
    monkeypatch.setenv("COLUMNS", "250")

    result = CliRunner().invoke(app, ["models"])

    assert result.exit_code == 0, result.output
    for name in RELEASED:
        assert name in result.output
    assert str(golden_checkpoint) in result.output
    assert "missing" in result.output
    assert "ASDFEAT_CHECKPOINT_EAT_BASE" in result.output
    assert "audioset_map" in result.output


@pytest.mark.parametrize(
    "name, relative_path, pooled_key",
    [
        ("beats-iter3", "beats/beats_tiny.pt", "pooled_mean"),
        ("eat-base", "eat/hf", "patch_mean"),
        ("ced-tiny", "ced/ced_tiny.pt", "pooled_mean"),
    ],
)
def test_factories_build_golden_models(name, relative_path, pooled_key, golden_dir):
    import numpy as np
    import soundfile

    checkpoint = golden_dir / relative_path
    extractor = create_extractor(name, checkpoint=checkpoint)

    assert extractor.name == name
    assert extractor.dim == 64
    family_dir = golden_dir / relative_path.split("/")[0]
    clip, _ = soundfile.read(family_dir / "real_fan.wav", dtype="float32")
    expected = np.load(family_dir / "real_fan.npz")[pooled_key][0]
    np.testing.assert_allclose(extractor.embed([clip])[0], expected, atol=1e-4, rtol=1e-4)
