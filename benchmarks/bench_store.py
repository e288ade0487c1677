"""Time the feature-store backends against a plain .npy file.

Usage: python benchmarks/bench_store.py [--clips 6600] [--dim 768] [--batch 64]
       [--row-chunk 256 1024]

The default shape is one DCASE 2022 machine type (6,000 training and 600
test clips) embedded by a 768-dimensional encoder. Writes come in batches of
``--batch`` consecutive rows, as an extraction run produces them. Each read
is timed 5 times and the minimum is printed. A second table times the same
batch writes on bare zarr and h5py arrays with and without compression,
which is why the stores checksum chunks but do not compress them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from asdfeat.data.clips import Clip, ClipTable
from asdfeat.store import EmbeddingKey, HDF5FeatureStore, ZarrFeatureStore

BACKENDS = {"zarr": ZarrFeatureStore, "hdf5": HDF5FeatureStore}

KEY = EmbeddingKey("bench-model", "dcase2022", "fan")
SECTIONS = ("00", "01", "02", "03", "04", "05")


def make_table(n_clips: int) -> ClipTable:
    """Return ``n_clips`` clips in six consecutive sections."""
    clips = []
    for i in range(n_clips):
        section = SECTIONS[i * len(SECTIONS) // n_clips]
        name = f"section_{section}_source_train_normal_{i:05d}.wav"
        clips.append(Clip(f"fan/train/{name}", name, "dcase2022", "fan", section, "source", "train", "normal"))
    return ClipTable.from_clips(clips)


def best_of(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def folder_size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_backend(
    root: Path, backend: str, row_chunk: int, table: ClipTable, values: np.ndarray, batch: int
) -> dict:
    path = root / f"store-{row_chunk}.{backend}"
    with BACKENDS[backend](path, "a", row_chunk=row_chunk) as store:
        store.write_clips("dcase2022", "fan", table)
        store.create_embeddings(KEY, values.shape[1], {"benchmark": True})
        start = time.perf_counter()
        for first in range(0, len(values), batch):
            rows = np.arange(first, min(first + batch, len(values)))
            store.write_embeddings(KEY, rows, values[rows])
        write_s = time.perf_counter() - start

    with BACKENDS[backend](path, "r") as store:
        full_s = best_of(lambda: store.read_embeddings(KEY), repeats=5)
        section_s = best_of(lambda: store.read_embeddings(KEY, sections=["02"]), repeats=5)
        read, _ = store.read_embeddings(KEY)
        assert np.array_equal(read, values)
    return {"write": write_s, "full": full_s, "section": section_s, "bytes": folder_size(path)}


def time_batch_writes(array, values: np.ndarray, batch: int, flush=lambda: None) -> float:
    start = time.perf_counter()
    for first in range(0, len(values), batch):
        array[first : first + batch] = values[first : first + batch]
        flush()
    return time.perf_counter() - start


def bench_codecs(root: Path, values: np.ndarray, batch: int, row_chunk: int) -> dict[str, float]:
    """Time batch writes to bare arrays with each codec choice."""
    import h5py
    import zarr
    from zarr.codecs import Crc32cCodec

    chunks = (row_chunk, values.shape[1])
    times = {}
    for name, compressors in (("zarr zstd (default)", "auto"), ("zarr crc32c", [Crc32cCodec()])):
        group = zarr.open_group(root / f"{name}.zarr", mode="w")
        array = group.create_array("v", shape=values.shape, dtype="f4", chunks=chunks, compressors=compressors)
        times[name] = time_batch_writes(array, values, batch)

    h5_options = {"h5py gzip 1 + shuffle": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
                  "h5py fletcher32": {"fletcher32": True}}
    for name, options in h5_options.items():
        with h5py.File(root / f"{name}.h5", "w", rdcc_nbytes=32 * 2**20) as file:
            dataset = file.create_dataset("v", shape=values.shape, dtype="f4", chunks=chunks, **options)
            times[name] = time_batch_writes(dataset, values, batch, file.flush)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6600, help="number of clips (rows)")
    parser.add_argument("--dim", type=int, default=768, help="embedding dimension")
    parser.add_argument("--batch", type=int, default=64, help="rows per write call")
    parser.add_argument(
        "--row-chunk", type=int, nargs="+", default=[256, 1024], help="rows per chunk to compare"
    )
    args = parser.parse_args()

    table = make_table(args.clips)
    values = np.random.default_rng(0).standard_normal((args.clips, args.dim)).astype(np.float32)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        npy = root / "values.npy"
        npy_write = best_of(lambda: np.save(npy, values), repeats=1)
        npy_read = best_of(lambda: np.load(npy))
        results = {
            (name, chunk): bench_backend(root, name, chunk, table, values, args.batch)
            for chunk in args.row_chunk
            for name in BACKENDS
        }
        codec_times = bench_codecs(root, values, args.batch, args.row_chunk[0])

    print(f"{args.clips} x {args.dim} float32, writes of {args.batch} rows")
    print("| store | row chunk | write (s) | full read (s) | 1-of-6 section read (s) | full read / npy | section / full | size (MiB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| .npy | - | {npy_write:.3f} | {npy_read:.4f} | - | 1.0 | - | {values.nbytes / 2**20:.1f} |")
    for (name, chunk), r in results.items():
        print(
            f"| {name} | {chunk} | {r['write']:.3f} | {r['full']:.4f} | {r['section']:.4f} | "
            f"{r['full'] / npy_read:.1f} | {r['section'] / r['full']:.2f} | {r['bytes'] / 2**20:.1f} |"
        )

    print(f"\nBare arrays, row chunk {args.row_chunk[0]}, same batch writes")
    print("| codec | write (s) |")
    print("|---|---:|")
    for name, seconds in codec_times.items():
        print(f"| {name} | {seconds:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
