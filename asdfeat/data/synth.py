"""Write a small synthetic dataset in the DCASE 2022 Task 2 layout.

Each clip is a rotating-machine sound: harmonics of a fundamental frequency
plus coloured broadband noise. Sections differ in fundamental, harmonic
profile and noise, and the target domain of each section shifts the
fundamental and changes the noise colour, as machine speed and recording
environment do in the real data. Anomalous test clips add one of three faults:
bearing impulses, a fundamental that drifts during the clip, or a new tone.
Fault strength is drawn per clip, so some anomalies are hard to detect.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from asdfeat.errors import DatasetError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
DEFAULT_MACHINES = ("fan", "gearbox", "valve")

#: Fundamental frequency in Hz of section 00, source domain, per machine type.
#: Other machine names get a fundamental derived from their CRC-32.
BASE_FUNDAMENTALS = {"fan": 58.0, "gearbox": 121.0, "valve": 87.0}

#: Spectral exponent of each noise colour: power falls as frequency**-exponent.
NOISE_COLOURS = {"white": 0.0, "pink": 1.0, "brown": 2.0}

_MACHINE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")
_N_HARMONICS = 12
_TARGET_SHARE = 0.1
_ANOMALY_KINDS = ("bearing", "drift", "tone")
_TABLE_SIZE = 8192


@dataclass(frozen=True)
class DomainSound:
    """Sound parameters of one section and domain of one machine type."""

    fundamental: float
    harmonic_gains: np.ndarray
    noise_colour: str
    noise_level: float

    @property
    def attributes(self) -> str:
        rpm = int(round(self.fundamental * 60))
        return f"rpm_{rpm}_noise_{self.noise_colour}"


def synthesize_dataset(
    out_dir,
    *,
    machines=DEFAULT_MACHINES,
    sections: int = 3,
    train_clips: int = 30,
    test_clips: int = 20,
    seconds: float = 2.0,
    seed: int = 0,
) -> Path:
    """Write a synthetic DCASE 2022-layout development set.

    Parameters
    ----------
    out_dir : str or Path
        Release root to create. Clips go to
        ``<out_dir>/dev_data/raw/<machine>/{train,test}/`` and attribute files
        to ``<out_dir>/dev_data/raw/<machine>/attributes_XX.csv``.
    machines : iterable of str, default ("fan", "gearbox", "valve")
        Machine-type folder names (letters, digits and '-').
    sections : int, default 3
        Sections per machine type, numbered from 00.
    train_clips : int, default 30
        Normal training clips per section. One in ten (at least one) is from
        the target domain, as the 990 : 10 split of DCASE 2022 scaled down.
    test_clips : int, default 20
        Test clips per section, split as evenly as possible over source/target
        x normal/anomaly (remainders go to source normal first).
    seconds : float, default 2.0
        Clip length in seconds.
    seed : int, default 0
        Seed of every random choice; equal arguments write identical files.

    Returns
    -------
    Path
        ``out_dir``, ready for :func:`asdfeat.data.layout.scan_dataset`.

    Raises
    ------
    DatasetError
        If an argument is out of range, or ``out_dir`` already contains clips.
    """
    out_dir = Path(out_dir)
    machines = _validate_arguments(out_dir, machines, sections, train_clips, test_clips, seconds, seed)
    n_samples = int(round(seconds * SAMPLE_RATE))

    for machine in machines:
        machine_dir = out_dir / "dev_data" / "raw" / machine
        for folder in ("train", "test"):
            (machine_dir / folder).mkdir(parents=True, exist_ok=True)
        for section in range(sections):
            rng = np.random.default_rng([seed, zlib.crc32(machine.encode()), section])
            rows = _write_section(machine_dir, machine, section, rng, train_clips, test_clips, n_samples)
            _write_attribute_file(machine_dir / f"attributes_{section:02d}.csv", rows)

    n_clips = len(machines) * sections * (train_clips + test_clips)
    logger.info("wrote %d synthetic clips to %s", n_clips, out_dir)
    return out_dir


def _validate_arguments(out_dir, machines, sections, train_clips, test_clips, seconds, seed) -> list[str]:
    machines = [machines] if isinstance(machines, str) else list(machines)
    if not machines:
        raise DatasetError("machines is empty; pass at least one machine type, e.g. ['fan']")
    for machine in machines:
        if not isinstance(machine, str) or not _MACHINE_NAME.match(machine):
            raise DatasetError(f"invalid machine type {machine!r}; use letters, digits and '-', e.g. 'fan'")
    if len(set(machines)) != len(machines):
        raise DatasetError(f"machines lists a machine type twice: {machines}")

    checks = (
        ("sections", sections, 1, 100),
        ("train_clips", train_clips, 2, 10_000),
        ("test_clips", test_clips, 4, 10_000),
    )
    for name, value, low, high in checks:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
            raise DatasetError(f"invalid {name} {value!r}; pass an integer from {low} to {high}")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float, np.integer, np.floating)) or not 0.5 <= seconds <= 60:
        raise DatasetError(f"invalid seconds {seconds!r}; pass a clip length from 0.5 to 60 seconds")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"invalid seed {seed!r}; pass an integer >= 0")

    existing = next((out_dir / "dev_data").rglob("*.wav"), None) if (out_dir / "dev_data").is_dir() else None
    if existing is not None:
        raise DatasetError(
            f"{str(out_dir)!r} already contains clips (e.g. {str(existing)!r}); pass an empty or new folder"
        )
    return machines


def _write_section(machine_dir, machine, section, rng, train_clips, test_clips, n_samples) -> list[list[str]]:
    source, target = _section_sounds(machine, section, rng)
    n_target_train = max(1, int(round(_TARGET_SHARE * train_clips)))
    rows = []

    plan = [("train", "source", "normal", train_clips - n_target_train), ("train", "target", "normal", n_target_train)]
    plan += [("test", domain, label, count) for (domain, label), count in _test_counts(test_clips).items()]

    for split, domain, label, count in plan:
        sound = source if domain == "source" else target
        for index in range(count):
            anomaly = _ANOMALY_KINDS[index % len(_ANOMALY_KINDS)] if label == "anomaly" else None
            waveform = _render_clip(sound, anomaly, n_samples, rng)
            name = f"section_{section:02d}_{domain}_{split}_{label}_{index:04d}_{sound.attributes}.wav"
            _write_wav(machine_dir / split / name, waveform)
            rows.append([f"{machine}/{split}/{name}", "rpm", str(int(round(sound.fundamental * 60))), "noise", sound.noise_colour])
    return rows


def _test_counts(test_clips: int) -> dict[tuple[str, str], int]:
    cells = [("source", "normal"), ("source", "anomaly"), ("target", "normal"), ("target", "anomaly")]
    base, remainder = divmod(test_clips, len(cells))
    return {cell: base + (1 if i < remainder else 0) for i, cell in enumerate(cells)}


def _section_sounds(machine: str, section: int, rng) -> tuple[DomainSound, DomainSound]:
    """Draw the source and target sound of one section.

    The target domain rotates 8-15 % faster, has another noise colour and a
    louder background than the source domain of the same section.
    """
    base = BASE_FUNDAMENTALS.get(machine, 40.0 + zlib.crc32(machine.encode()) % 120)
    fundamental = base * (1.0 + 0.17 * section) * rng.uniform(0.97, 1.03)
    slope = rng.uniform(0.7, 1.5)
    gains = np.arange(1, _N_HARMONICS + 1) ** -slope * rng.lognormal(0.0, 0.4, _N_HARMONICS)
    colours = list(NOISE_COLOURS)
    source_colour = colours[section % len(colours)]
    level = rng.uniform(0.25, 0.45)
    source = DomainSound(fundamental, gains, source_colour, level)

    target_colour = colours[(section + 1) % len(colours)]
    target = DomainSound(fundamental * rng.uniform(1.08, 1.15), gains, target_colour, level * rng.uniform(1.3, 1.8))
    return source, target


def _render_clip(sound: DomainSound, anomaly: str | None, n_samples: int, rng) -> np.ndarray:
    """Render one clip, shape (n_samples,), float64 with peak below 1."""
    seconds = n_samples / SAMPLE_RATE
    frequency = np.full(n_samples, sound.fundamental * rng.uniform(0.985, 1.015))
    severity = rng.uniform(0.35, 1.0)

    if anomaly == "drift":
        sweep = np.linspace(-1.0, 1.0, n_samples) * 0.08 * severity
        frequency = frequency * (1.0 + sweep)

    gains = sound.harmonic_gains * rng.lognormal(0.0, 0.1, sound.harmonic_gains.size)
    signal = _harmonics(frequency, gains, rng)
    modulation = 1.0 + rng.uniform(0.0, 0.1) * np.sin(2 * np.pi * rng.uniform(0.5, 3.0) * np.arange(n_samples) / SAMPLE_RATE)
    signal = signal * modulation / np.sqrt(np.mean(signal**2))

    noise = _coloured_noise(n_samples, NOISE_COLOURS[sound.noise_colour], rng)
    signal = signal + noise * sound.noise_level * rng.uniform(0.85, 1.15)

    if anomaly == "bearing":
        signal = signal + _bearing_impulses(n_samples, seconds, severity, rng)
    elif anomaly == "tone":
        tone_frequency = sound.fundamental * rng.uniform(2.3, 9.7)
        time = np.arange(n_samples) / SAMPLE_RATE
        signal = signal + 0.3 * severity * np.sin(2 * np.pi * tone_frequency * time + rng.uniform(0, 2 * np.pi))

    signal = signal * 0.08 * 10 ** (rng.uniform(-1.5, 1.5) / 20)
    peak = np.max(np.abs(signal))
    return signal * (0.95 / peak) if peak > 0.95 else signal


def _harmonics(frequency: np.ndarray, gains: np.ndarray, rng) -> np.ndarray:
    """Sum the harmonics of a time-varying fundamental through a one-period wavetable.

    One table lookup per sample replaces one sine per harmonic and sample.
    Harmonics above 0.45 of the sample rate are left out to avoid aliasing.
    """
    table_phase = np.arange(_TABLE_SIZE + 1) * (2 * np.pi / _TABLE_SIZE)
    table = np.zeros(_TABLE_SIZE + 1)
    for order, gain in enumerate(gains, start=1):
        if order * frequency.max() < 0.45 * SAMPLE_RATE:
            table += gain * np.sin(order * table_phase + rng.uniform(0, 2 * np.pi))

    cycles = np.cumsum(frequency) / SAMPLE_RATE
    position = (cycles - np.floor(cycles)) * _TABLE_SIZE
    index = position.astype(np.int64)
    fraction = position - index
    return table[index] * (1.0 - fraction) + table[index + 1] * fraction


def _coloured_noise(n_samples: int, exponent: float, rng) -> np.ndarray:
    """Gaussian noise with power spectrum proportional to frequency**-exponent, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n_samples))
    frequencies = np.fft.rfftfreq(n_samples, d=1.0 / SAMPLE_RATE)
    frequencies[0] = frequencies[1]
    noise = np.fft.irfft(spectrum * frequencies ** (-exponent / 2), n=n_samples)
    return noise / np.sqrt(np.mean(noise**2))


def _bearing_impulses(n_samples: int, seconds: float, severity: float, rng) -> np.ndarray:
    """Decaying resonance bursts at a bearing fault rate of 6-20 impacts per second."""
    rate = rng.uniform(6.0, 20.0)
    resonance = rng.uniform(2000.0, 5000.0)
    burst_time = np.arange(int(0.01 * SAMPLE_RATE)) / SAMPLE_RATE
    burst = np.exp(-burst_time / 0.0015) * np.sin(2 * np.pi * resonance * burst_time)

    impulses = np.zeros(n_samples)
    onsets = np.arange(rng.uniform(0, 1 / rate), seconds, 1 / rate)
    impulses[(onsets * SAMPLE_RATE).astype(int)] = rng.uniform(0.5, 1.0, onsets.size)
    return 2.0 * severity * np.convolve(impulses, burst)[:n_samples]


def _write_wav(path: Path, waveform: np.ndarray) -> None:
    """Write 16-bit PCM through memory, because libsndfile syncs every file it closes to disk."""
    buffer = io.BytesIO()
    sf.write(buffer, waveform, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    path.write_bytes(buffer.getvalue())


def _write_attribute_file(path: Path, rows: list[list[str]]) -> None:
    """Write ``attributes_XX.csv`` in the DCASE 2022 column layout."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file_name", "d1p", "d1v", "d2p", "d2v"])
        writer.writerows(rows)
