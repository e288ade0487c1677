"""Time writing the default synthetic dataset against the naive harmonic sum.

Run: python benchmarks/bench_synth.py

Prints the wall and CPU time of ``synthesize_dataset`` with default arguments
(3 machine types x 3 sections x 50 clips of 2 s). For one clip it then times
the wavetable harmonic sum of the generator beside a direct sum of one sine
per harmonic.
"""

import tempfile
import time
from pathlib import Path

import numpy as np

from asdfeat.data import synth


def _direct_harmonics(frequency, gains):
    phase = 2 * np.pi * np.cumsum(frequency) / synth.SAMPLE_RATE
    return sum(gain * np.sin(order * phase) for order, gain in enumerate(gains, start=1))


def main() -> None:
    timings, cpu_timings = [], []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as folder:
            start, cpu_start = time.perf_counter(), time.process_time()
            synth.synthesize_dataset(Path(folder) / "release")
            timings.append(time.perf_counter() - start)
            cpu_timings.append(time.process_time() - cpu_start)
    print(
        f"default dataset (450 clips): min wall {min(timings):.2f} s, "
        f"min CPU {min(cpu_timings):.2f} s over {len(timings)} runs"
    )

    frequency = np.full(2 * synth.SAMPLE_RATE, 58.0)
    gains = 1.0 / np.arange(1, 13)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(50):
        synth._harmonics(frequency, gains, rng)
    wavetable = (time.perf_counter() - start) / 50
    start = time.perf_counter()
    for _ in range(50):
        _direct_harmonics(frequency, gains)
    direct = (time.perf_counter() - start) / 50
    print(f"one 2 s clip, 12 harmonics: wavetable {wavetable * 1e3:.2f} ms, direct {direct * 1e3:.2f} ms, ratio {direct / wavetable:.1f}")


if __name__ == "__main__":
    main()
