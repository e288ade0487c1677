"""End-to-end extraction into the store: resume, overwrite, backends, bad input."""

import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from asdfeat.data.synth import synthesize_dataset
from asdfeat.errors import AsdfeatError, AudioError, StoreError
from asdfeat.evaluate import ScoreOptions, score_store
from asdfeat.extract import run_extraction
from asdfeat.store import EmbeddingKey, open_store

MACHINES = ("fan", "valve")


@pytest.fixture(scope="module")
def synthetic_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    synthesize_dataset(root, machines=MACHINES, sections=2, train_clips=12, test_clips=8, seconds=1.0, seed=3)
    return root


def _store_digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path.parent)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _read_all(store_path, model="logmel-stats"):
    with open_store(store_path, "r") as store:
        return {
            key.machine: store.read_embeddings(key)
            for key in store.list_embeddings()
            if key.model == model
        }


class _StopAfter:
    """A progress reporter that interrupts extraction after ``limit`` clips."""

    def __init__(self, limit):
        self.limit, self.count = limit, 0

    def start(self, description, total):
        pass

    def advance(self, count):
        self.count += count
        if self.count >= self.limit:
            raise KeyboardInterrupt

    def finish(self):
        pass


@pytest.mark.parametrize("backend", ["zarr", "hdf5"])
def test_interrupted_extraction_resumes(synthetic_data, tmp_path, backend):
    reference_path = tmp_path / f"reference.{backend}"
    run_extraction(synthetic_data, reference_path, "logmel-stats", backend=backend, batch_size=4)

    resumed_path = tmp_path / f"resumed.{backend}"
    with pytest.raises(KeyboardInterrupt):
        run_extraction(synthetic_data, resumed_path, "logmel-stats", backend=backend, batch_size=4, progress=_StopAfter(8))

    with open_store(resumed_path, "r") as store:
        partial = store.done_mask(EmbeddingKey("logmel-stats", "dcase2022", "fan"))
    assert 0 < partial.sum() < partial.size

    summaries = run_extraction(synthetic_data, resumed_path, "logmel-stats", backend=backend, batch_size=4)
    assert sum(s.n_resumed for s in summaries) == 8

    reference, resumed = _read_all(reference_path), _read_all(resumed_path)
    for machine in MACHINES:
        np.testing.assert_array_equal(resumed[machine][0], reference[machine][0])
        assert resumed[machine][1] == reference[machine][1]
        assert len(set(resumed[machine][1]["path"].tolist())) == len(resumed[machine][1])


def test_rerun_after_completion_computes_nothing(synthetic_data, tmp_path):
    store_path = tmp_path / "store.zarr"
    run_extraction(synthetic_data, store_path, "logmel-stats")
    before = _store_digest(store_path)

    summaries = run_extraction(synthetic_data, store_path, "logmel-stats")

    assert all(s.n_computed == 0 for s in summaries)
    assert _store_digest(store_path) == before


_SLOW_EXTRACTOR = textwrap.dedent(
    """
    import time
    from asdfeat.extractors.logmel_stats import LogMelStats
    from asdfeat.extractors.registry import ModelInfo, register_extractor

    class SlowLogMelStats(LogMelStats):
        name = "slow-logmel-stats"

        def embed(self, waveforms):
            time.sleep(0.3)
            return super().embed(waveforms)

    register_extractor(
        ModelInfo(name="slow-logmel-stats", family="test", dim=256, description="slow test extractor"),
        lambda device="cpu", checkpoint=None: SlowLogMelStats(device),
    )
    """
)


def test_sigkill_midway_then_resume(synthetic_data, tmp_path):
    (tmp_path / "slow_extractor.py").write_text(_SLOW_EXTRACTOR)
    store_path = tmp_path / "killed.zarr"
    script = (
        "import slow_extractor\n"
        "from asdfeat.extract import run_extraction\n"
        f"run_extraction({str(synthetic_data)!r}, {str(store_path)!r}, 'slow-logmel-stats', batch_size=2)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    process = subprocess.Popen([sys.executable, "-c", script], env=env)

    key = EmbeddingKey("slow-logmel-stats", "dcase2022", "fan")
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        try:
            with open_store(store_path, "r") as store:
                done = int(store.done_mask(key).sum()) if store.has_embeddings(key) else 0
        except (AsdfeatError, OSError, KeyError, ValueError):
            continue  # the writer is still creating the store
        if done >= 4:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert done >= 4, "the extraction finished or stalled before it could be killed"

    sys.path.insert(0, str(tmp_path))
    try:
        import slow_extractor  # noqa: F401  (registers the model in this process)

        run_extraction(synthetic_data, store_path, "slow-logmel-stats", batch_size=8)
    finally:
        sys.path.remove(str(tmp_path))

    reference_path = tmp_path / "reference.zarr"
    run_extraction(synthetic_data, reference_path, "logmel-stats")
    resumed = _read_all(store_path, "slow-logmel-stats")
    reference = _read_all(reference_path)
    for machine in MACHINES:
        np.testing.assert_array_equal(resumed[machine][0], reference[machine][0])
        assert resumed[machine][1] == reference[machine][1]


def test_overwrite_replaces_rows(synthetic_data, tmp_path):
    store_path = tmp_path / "store.zarr"
    run_extraction(synthetic_data, store_path, "ae", model_options={"epochs": 2})
    first = _read_all(store_path, "ae")["fan"][0]

    run_extraction(synthetic_data, store_path, "ae", model_options={"epochs": 2, "hidden": 64}, overwrite=True)
    second = _read_all(store_path, "ae")["fan"][0]

    assert first.shape == second.shape
    assert not np.allclose(first, second)


def test_changed_settings_without_overwrite_rejected(synthetic_data, tmp_path):
    store_path = tmp_path / "store.zarr"
    run_extraction(synthetic_data, store_path, "ae", model_options={"epochs": 2})
    before = _store_digest(store_path)

    with pytest.raises(AsdfeatError, match="overwrite"):
        run_extraction(synthetic_data, store_path, "ae", model_options={"epochs": 2, "hidden": 64})

    assert _store_digest(store_path) == before


def test_trained_model_resumes_with_stored_weights(synthetic_data, tmp_path):
    store_path = tmp_path / "store.zarr"
    with pytest.raises(KeyboardInterrupt):
        run_extraction(synthetic_data, store_path, "ae", model_options={"epochs": 3}, batch_size=4, progress=_StopAfter(4))
    summaries = run_extraction(synthetic_data, store_path, "ae", model_options={"epochs": 3}, batch_size=4)

    assert not any(s.trained for s in summaries if s.key.machine == "fan")
    reference_path = tmp_path / "reference.zarr"
    run_extraction(synthetic_data, reference_path, "ae", model_options={"epochs": 3})
    np.testing.assert_allclose(_read_all(store_path, "ae")["fan"][0], _read_all(reference_path, "ae")["fan"][0], rtol=1e-5, atol=1e-5)


def test_backends_give_identical_scores(synthetic_data, tmp_path):
    rows = {}
    for backend in ("zarr", "hdf5"):
        store_path = tmp_path / f"store.{backend}"
        run_extraction(synthetic_data, store_path, "logmel-stats", backend=backend)
        with open_store(store_path, "r") as store:
            rows[backend] = score_store(store, ["md", "lp-in", "lp-out"], options=ScoreOptions())

    assert len(rows["zarr"]) == len(rows["hdf5"])
    for zarr_row, hdf5_row in zip(rows["zarr"], rows["hdf5"]):
        assert zarr_row == pytest.approx(hdf5_row, nan_ok=True)


def test_md_detects_synthetic_anomalies(synthetic_data, tmp_path):
    store_path = tmp_path / "store.zarr"
    run_extraction(synthetic_data, store_path, "logmel-stats")
    with open_store(store_path, "r") as store:
        rows = score_store(store, ["md"])
    mean_auc = next(r["auc"] for r in rows if r["scope"] == "mean")
    assert mean_auc > 0.7


def _copy_dataset(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage"), "decode"),
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: soundfile.write(p, np.zeros(0, dtype=np.float32), 16000), "zero-length|no samples|empty"),
        (lambda p: soundfile.write(p, np.zeros(16000, dtype=np.float32), 16000, subtype="PCM_16"), "silent"),
    ],
    ids=["corrupt", "empty-file", "zero-length", "silent"],
)
def test_bad_clip_keeps_stored_rows(synthetic_data, tmp_path, damage, message):
    data = _copy_dataset(synthetic_data, tmp_path / "data")
    store_path = tmp_path / "store.zarr"
    run_extraction(data, store_path, "logmel-stats", machines=["fan"])
    stored = _read_all(store_path)["fan"]

    template = next((data / "dev_data" / "raw" / "fan" / "test").glob("*.wav"))
    bad_clip = template.with_name(re.sub(r"_(\d{4})", "_0999", template.name, count=1))
    assert bad_clip != template
    damage(bad_clip)

    with pytest.raises(AsdfeatError, match=message) as raised:
        run_extraction(data, store_path, "logmel-stats", machines=["fan"])
    assert isinstance(raised.value, (AudioError, AsdfeatError))
    assert bad_clip.name in str(raised.value)

    with open_store(store_path, "r") as store:
        after, table = store.read_embeddings(EmbeddingKey("logmel-stats", "dcase2022", "fan"), require_complete=False)
    np.testing.assert_array_equal(after, stored[0])
    assert table == stored[1]


def test_unknown_model_rejected_before_writing(synthetic_data, tmp_path):
    store_path = tmp_path / "store.zarr"
    with pytest.raises(AsdfeatError, match="unknown model"):
        run_extraction(synthetic_data, store_path, "no-such-model")
    assert not store_path.exists()


def test_stale_store_rejected_for_other_dim(synthetic_data, tmp_path):
    store_path = tmp_path / "store.zarr"
    run_extraction(synthetic_data, store_path, "logmel-stats", machines=["fan"])
    with open_store(store_path, "a") as store:
        with pytest.raises(StoreError):
            store.create_embeddings(EmbeddingKey("logmel-stats", "dcase2022", "fan"), 12, {})


def test_skip_bad_clips_extracts_the_rest(synthetic_data, tmp_path):
    data = _copy_dataset(synthetic_data, tmp_path / "data")
    template = next((data / "dev_data" / "raw" / "fan" / "test").glob("*.wav"))
    corrupt = template.with_name(re.sub(r"_(\d{4})", "_0998", template.name, count=1))
    corrupt.write_bytes(b"not audio")
    too_short = template.with_name(re.sub(r"_(\d{4})", "_0999", template.name, count=1))
    soundfile.write(too_short, np.full(100, 0.1, dtype=np.float32), 16000)

    summaries = run_extraction(data, tmp_path / "store.zarr", "logmel-stats", machines=["fan"], skip_bad_clips=True)

    assert sorted(Path(p).name for p in summaries[0].skipped) == sorted([corrupt.name, too_short.name])
    assert summaries[0].n_computed == summaries[0].n_clips - 2
    with open_store(tmp_path / "store.zarr", "r") as store:
        rows = score_store(store, ["md"])
    fan = next(r for r in rows if r["scope"] == "machine")
    assert "2 clip(s) have no stored embedding" in fan["notes"]


def test_too_short_clip_error_names_file(synthetic_data, tmp_path):
    data = _copy_dataset(synthetic_data, tmp_path / "data")
    template = next((data / "dev_data" / "raw" / "fan" / "test").glob("*.wav"))
    too_short = template.with_name(re.sub(r"_(\d{4})", "_0999", template.name, count=1))
    soundfile.write(too_short, np.full(100, 0.1, dtype=np.float32), 16000)

    with pytest.raises(AudioError, match="513") as raised:
        run_extraction(data, tmp_path / "store.zarr", "logmel-stats", machines=["fan"])

    assert too_short.name in str(raised.value)
    assert "--skip-bad-clips" in str(raised.value)


def test_store_suffix_must_match_backend(synthetic_data, tmp_path):
    with pytest.raises(StoreError, match="suffix marks HDF5"):
        run_extraction(synthetic_data, tmp_path / "store.h5", "logmel-stats", backend="zarr")
    with pytest.raises(StoreError, match="suffix marks Zarr"):
        run_extraction(synthetic_data, tmp_path / "store.zarr", "logmel-stats", backend="hdf5")

    assert not (tmp_path / "store.h5").exists()
    assert not (tmp_path / "store.zarr").exists()


def test_short_training_clip_named_and_skippable(synthetic_data, tmp_path):
    data = _copy_dataset(synthetic_data, tmp_path / "data")
    template = next((data / "dev_data" / "raw" / "fan" / "train").glob("*.wav"))
    too_short = template.with_name(re.sub(r"_(\d{4})", "_0999", template.name, count=1))
    soundfile.write(too_short, np.full(100, 0.1, dtype=np.float32), 16000)

    with pytest.raises(AudioError, match="2048") as raised:
        run_extraction(data, tmp_path / "store.zarr", "ae", machines=["fan"], model_options={"epochs": 1})
    assert too_short.name in str(raised.value)

    summaries = run_extraction(
        data, tmp_path / "store.zarr", "ae", machines=["fan"], model_options={"epochs": 1}, skip_bad_clips=True
    )
    assert [Path(p).name for p in summaries[0].skipped] == [too_short.name]
