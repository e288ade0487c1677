"""Synthetic dataset: layout, determinism, and anomalies a simple baseline can detect."""

import csv

import numpy as np
import pytest
import soundfile as sf
import typer
from scipy.signal import stft
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from asdfeat.commands.synth import register
from asdfeat.data.layout import scan_dataset
from asdfeat.data.synth import synthesize_dataset
from asdfeat.errors import DatasetError

SAMPLE_RATE = 16000
N_FFT = 1024
HOP = 512
N_MELS = 32


def _mel_filterbank(n_mels, n_fft, sample_rate):
    """Triangular filters on the HTK mel scale, shape (n_mels, n_fft // 2 + 1)."""

    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def to_hz(mel):
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)

    edges = to_hz(np.linspace(0.0, to_mel(sample_rate / 2), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    filters = np.zeros((n_mels, bins.size))
    for index in range(n_mels):
        low, centre, high = edges[index : index + 3]
        rising = (bins - low) / (centre - low)
        falling = (high - bins) / (high - centre)
        filters[index] = np.maximum(0.0, np.minimum(rising, falling))
    return filters


def _log_mel_mean_std(path, filters):
    """Mean and std over frames of a log-mel spectrogram, shape (2 * N_MELS,)."""
    samples, _ = sf.read(path)
    _, _, spectrum = stft(samples, nperseg=N_FFT, noverlap=N_FFT - HOP, boundary=None, padded=False)
    log_mel = 10.0 * np.log10(filters @ np.abs(spectrum) ** 2 + 1e-10)
    return np.concatenate([log_mel.mean(axis=1), log_mel.std(axis=1)])


@pytest.fixture(scope="module")
def default_dataset(tmp_path_factory):
    return synthesize_dataset(tmp_path_factory.mktemp("synth") / "release")


def test_synth_default_layout(default_dataset):
    tables = scan_dataset(default_dataset)

    assert sorted(tables) == [("dcase2022", "fan"), ("dcase2022", "gearbox"), ("dcase2022", "valve")]
    for table in tables.values():
        assert len(table) == 3 * (30 + 20)
        for section in ("00", "01", "02"):
            in_section = table["section"] == section
            train = in_section & (table["split"] == "train")
            assert train.sum() == 30
            assert (train & (table["domain"] == "target")).sum() == 3
            assert set(table["label"][train].tolist()) == {"normal"}
            for domain in ("source", "target"):
                for label in ("normal", "anomaly"):
                    cell = in_section & (table["split"] == "test") & (table["domain"] == domain) & (table["label"] == label)
                    assert cell.sum() == 5


def test_synth_audio_format(default_dataset):
    path = next((default_dataset / "dev_data" / "raw" / "fan" / "train").glob("*.wav"))

    info = sf.info(path)

    assert info.samplerate == 16000
    assert info.channels == 1
    assert info.subtype == "PCM_16"
    assert info.frames == 32000


def test_synth_attribute_files(default_dataset):
    machine_dir = default_dataset / "dev_data" / "raw" / "gearbox"

    with open(machine_dir / "attributes_01.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))

    assert len(rows) == 50
    assert list(rows[0]) == ["file_name", "d1p", "d1v", "d2p", "d2v"]
    for row in rows:
        assert (default_dataset / "dev_data" / "raw" / row["file_name"]).is_file()
        assert row["file_name"].endswith(f"_rpm_{row['d1v']}_noise_{row['d2v']}.wav")


def test_synth_target_train_minimum(tmp_path):
    root = synthesize_dataset(tmp_path, machines=["fan"], sections=1, train_clips=4, test_clips=6, seconds=0.5)

    table = scan_dataset(root)[("dcase2022", "fan")]

    train = table["split"] == "train"
    assert (train & (table["domain"] == "target")).sum() == 1
    assert (table["split"] == "test").sum() == 6


def test_synth_is_deterministic(tmp_path):
    options = {"machines": ["fan", "pump"], "sections": 2, "train_clips": 4, "test_clips": 4, "seconds": 0.5}
    first = synthesize_dataset(tmp_path / "a", seed=7, **options)
    second = synthesize_dataset(tmp_path / "b", seed=7, **options)
    other = synthesize_dataset(tmp_path / "c", seed=8, **options)

    first_files = sorted(path.relative_to(first) for path in first.rglob("*") if path.is_file())
    second_files = sorted(path.relative_to(second) for path in second.rglob("*") if path.is_file())
    assert first_files == second_files
    for relative in first_files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes()

    first_wav = min(first.rglob("*.wav"))
    other_wav = min(other.rglob("*.wav"))
    assert first_wav.read_bytes() != other_wav.read_bytes()


def test_synth_refuses_existing_clips(tmp_path):
    synthesize_dataset(tmp_path, machines=["fan"], sections=1, train_clips=2, test_clips=4, seconds=0.5)

    with pytest.raises(DatasetError, match="already contains clips"):
        synthesize_dataset(tmp_path, machines=["fan"], sections=1, train_clips=2, test_clips=4, seconds=0.5)


@pytest.mark.parametrize(
    "options",
    [
        {"machines": []},
        {"machines": ["fan/../x"]},
        {"machines": ["fan", "fan"]},
        {"sections": 0},
        {"train_clips": 1},
        {"test_clips": 3},
        {"seconds": 0.1},
        {"seed": -1},
    ],
)
def test_synth_invalid_arguments(tmp_path, options):
    with pytest.raises(DatasetError, match="invalid|empty|twice"):
        synthesize_dataset(tmp_path, **options)


def test_synth_anomalies_detectable_not_trivial(default_dataset):
    filters = _mel_filterbank(N_MELS, N_FFT, SAMPLE_RATE)
    raw_dir = default_dataset / "dev_data" / "raw"
    aucs, source_aucs, target_aucs = [], [], []

    for (_, machine), table in sorted(scan_dataset(default_dataset).items()):
        # One BLAS thread: hundreds of tiny products are slower with a thread pool on a busy machine.
        with threadpool_limits(limits=1):
            embeddings = np.array([_log_mel_mean_std(raw_dir / path, filters) for path in table["path"]])
        train = table["split"] == "train"
        test = ~train

        scores = LedoitWolf().fit(embeddings[train]).mahalanobis(embeddings[test])
        is_anomaly = table["label"][test] == "anomaly"
        domains = table["domain"][test]
        aucs.append(roc_auc_score(is_anomaly, scores))
        for domain, results in (("source", source_aucs), ("target", target_aucs)):
            keep = (domains == domain) | is_anomaly
            results.append(roc_auc_score(is_anomaly[keep], scores[keep]))

    assert np.mean(aucs) > 0.65, aucs
    assert max(aucs) < 0.95, aucs
    assert np.mean(source_aucs) > np.mean(target_aucs), (source_aucs, target_aucs)


def test_synth_command_prints_summary(tmp_path):
    app = typer.Typer()
    register(app)
    app.command("unused")(lambda: None)

    result = CliRunner().invoke(
        app,
        ["synth", str(tmp_path / "out"), "--machines", "fan,valve", "--sections", "1",
         "--train-clips", "3", "--test-clips", "4", "--seconds", "0.5", "--seed", "3"],
    )

    assert result.exit_code == 0, result.output
    assert "Wrote 14 clips" in result.output
    assert str(tmp_path / "out" / "dev_data" / "raw") in result.output.replace("\n", "")
    assert len(list((tmp_path / "out").rglob("*.wav"))) == 14
