"""Extraction and MD scoring on real DCASE clips cut into 1-second windows.

The shared real clips are test clips only (one to four per machine type), so
each clip is cut into 1-second windows. The first half of a normal clip's
windows become normal training clips and the rest normal test clips. The
windows of the anomalous clips become anomalous test clips. The windows are written with DCASE 2022
names, one section per source machine type and year.
"""

import numpy as np
import pytest
import soundfile

from asdfeat.data.audio import load_audio
from asdfeat.data.layout import scan_dataset
from asdfeat.evaluate import score_store
from asdfeat.extract import run_extraction
from asdfeat.store import open_store

WINDOW_SECONDS = 1.0


def _write_windows(real_clips, target_dir, machine):
    """Cut real clips into windows and write them in a DCASE 2022 layout."""
    counters = {"train": 0, "test": 0}
    for clip in sorted(real_clips):
        waveform = load_audio(clip)
        window = int(WINDOW_SECONDS * 16000)
        pieces = [waveform[i : i + window] for i in range(0, len(waveform) - window + 1, window)]
        is_anomaly = "anomaly" in clip.name
        for index, piece in enumerate(pieces):
            if is_anomaly:
                split, label = "test", "anomaly"
            else:
                split, label = ("train", "normal") if index < len(pieces) // 2 else ("test", "normal")
            number = counters[split]
            counters[split] += 1
            name = f"section_00_source_{split}_{label}_{number:04d}_real.wav"
            path = target_dir / "dev_data" / machine / split / name
            path.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(path, piece, 16000, subtype="FLOAT")


@pytest.fixture(scope="module")
def windowed_real_data(real_data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("real_windows")
    groups = {}
    for clip in real_data_dir.rglob("*.wav"):
        machine_dir = clip.parent.parent
        year = next(p.name for p in clip.parents if p.name.startswith("dcase"))
        groups.setdefault(f"{machine_dir.name}-{year[-4:]}", []).append(clip)

    usable = {m: clips for m, clips in groups.items() if any("anomaly" in c.name for c in clips) and any("normal" in c.name for c in clips)}
    for machine, clips in usable.items():
        _write_windows(clips, root, machine)
    return root, sorted(usable)


@pytest.mark.parametrize("year", ["dcase2020", "dcase2023"])
def test_real_clips_parse_and_decode(real_data_dir, year):
    release_root = real_data_dir / year
    tables = scan_dataset(release_root)

    n_clips = sum(len(table) for table in tables.values())
    assert n_clips == len(list(release_root.rglob("*.wav")))
    for (dataset, machine), table in tables.items():
        assert dataset == year
        assert set(table["label"].tolist()) <= {"normal", "anomaly"}
        for path in table["path"].tolist():
            waveform = load_audio(next(release_root.rglob(path)))
            assert waveform.dtype == np.float32
            assert waveform.size >= 160000


def test_md_on_real_windows_is_finite(windowed_real_data, tmp_path):
    data_dir, machines = windowed_real_data
    store_path = tmp_path / "real.zarr"
    run_extraction(data_dir, store_path, "logmel-stats")

    with open_store(store_path, "r") as store:
        rows = score_store(store, ["md"])

    machine_rows = [r for r in rows if r["scope"] == "machine"]
    assert sorted(r["machine"] for r in machine_rows) == machines
    for row in machine_rows:
        assert np.isfinite(row["auc"]), row
        # 256-d embeddings from a handful of windows: MD must fall back to shrinkage.
        assert "ledoit-wolf" in row["notes"] or "shrinkage" in row["notes"], row["notes"]
    mean_auc = next(r["auc"] for r in rows if r["scope"] == "mean")
    print(f"real-clip MD AUC per machine: { {r['machine']: round(r['auc'], 3) for r in machine_rows} }, mean {mean_auc:.3f}")
