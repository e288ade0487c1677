"""Time the batched pretrained extractors against per-clip reference-style loops.

For each family (BEATs, EAT, CED) at its released base size, with random
weights on the CPU, the script embeds the same synthetic 10 s clips twice:

* reference style: one clip at a time, torchaudio's per-clip front end and
  attention as an explicit softmax. For BEATs this is
  ``torchaudio.compliance.kaldi.fbank`` on ``clip * 2**15`` and the encoder
  with ``attention="eager"``, which keeps the reference's scaled-softmax
  steps (query times ``scaling / 32``, max shift, times 32);
* batched: the extractor's ``embed`` on the whole list (batched Kaldi
  fbank, ``scaled_dot_product_attention`` with the gated bias as mask).

It prints clips per second of both, their ratio and the max abs difference
of the embeddings. The EAT and CED rows reuse the builders and reference
loops of ``bench_eat_ced.py`` in this folder.

Usage::

    python benchmarks/bench_pretrained.py --clips 4
    python benchmarks/bench_pretrained.py --families beats --clips 2
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchaudio

from asdfeat.extractors import beats
from asdfeat.extractors.beats_model import BEATs, BEATsConfig

# The released base architecture (BEATs_iter3.pt and BEATs_iter3_plus_AS2M.pt).
BEATS_BASE_CFG = {
    "input_patch_size": 16,
    "embed_dim": 512,
    "encoder_layers": 12,
    "encoder_embed_dim": 768,
    "encoder_ffn_embed_dim": 3072,
    "encoder_attention_heads": 12,
    "deep_norm": True,
    "layer_norm_first": False,
    "relative_position_embedding": True,
    "gru_rel_pos": True,
    "num_buckets": 320,
    "max_distance": 800,
    "conv_pos": 128,
    "conv_pos_groups": 16,
}


def synthetic_clips(count: int, seconds: float = 10.0) -> list[np.ndarray]:
    """Make ``count`` clips of tones plus noise, in [-1, 1), at 16 kHz."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 16000)) / 16000
    clips = []
    for index in range(count):
        tone = 0.2 * np.sin(2 * np.pi * (200 + 50 * index) * t)
        clips.append((tone + 0.05 * rng.standard_normal(len(t))).astype(np.float32))
    return clips


def build_beats(folder: Path) -> beats.BEATsExtractor:
    """Save a random-weight base BEATs in the released layout, then load it."""
    torch.manual_seed(0)
    model = BEATs(BEATsConfig.from_dict(BEATS_BASE_CFG))
    path = folder / "beats_base_random.pt"
    torch.save({"cfg": model.config.to_dict(), "model": model.state_dict()}, path)
    return beats.BEATsExtractor(path, variant="beats-iter3")


def reference_beats(extractor: beats.BEATsExtractor, clips: list[np.ndarray]) -> np.ndarray:
    """Embed clip by clip as the reference ``extract_features`` does."""
    rows = []
    for clip in clips:
        waveform = torch.from_numpy(clip)[None] * 2**15
        fbank = torchaudio.compliance.kaldi.fbank(
            waveform, num_mel_bins=128, sample_frequency=16000, frame_length=25, frame_shift=10
        )
        fbank = (fbank - beats.FBANK_MEAN) / (2 * beats.FBANK_STD)
        tokens, _ = extractor.model(fbank[None], attention="eager")
        rows.append(tokens.mean(dim=1))
    return torch.cat(rows).numpy()


def time_once(function) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    with torch.inference_mode():
        result = function()
    return time.perf_counter() - start, result


def bench_family(family: str, clips: list[np.ndarray], folder: Path) -> dict:
    """Time both passes of one family, after a 2 s warm-up clip through the extractor."""
    if family == "beats":
        extractor = build_beats(folder)
        reference = lambda: reference_beats(extractor, clips)  # noqa: E731
        eager_context = contextlib.nullcontext
    else:
        import bench_eat_ced

        if family == "eat":
            extractor = bench_eat_ced.build_eat("eat-base", folder)
            reference_loop, attention = bench_eat_ced.reference_eat, bench_eat_ced.eat_model.Attention
        else:
            extractor = bench_eat_ced.build_ced("ced-base", folder)
            reference_loop, attention = bench_eat_ced.reference_ced, bench_eat_ced.ced_model.Attention
        reference = lambda: reference_loop(extractor, clips)  # noqa: E731
        eager_context = lambda: bench_eat_ced.eager_attention_in(attention)  # noqa: E731

    warm_up = [clips[0][:32000]]
    time_once(lambda: extractor.embed(warm_up))

    with eager_context():
        reference_seconds, expected = time_once(reference)
    batched_seconds, embeddings = time_once(lambda: extractor.embed(clips))

    return {
        "model": f"{family}-base",
        "reference_clips_per_s": len(clips) / reference_seconds,
        "batched_clips_per_s": len(clips) / batched_seconds,
        "speedup": reference_seconds / batched_seconds,
        "max_abs_diff": float(np.abs(embeddings - expected).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=["beats", "eat", "ced"], choices=["beats", "eat", "ced"])
    parser.add_argument("--clips", type=int, default=4, help="number of 10 s clips per family")
    args = parser.parse_args()

    clips = synthetic_clips(args.clips)
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, torch {torch.__version__}, {torch.get_num_threads()} threads, {args.clips} clips of 10 s")
    print(f"{'model':<11} {'reference clips/s':>18} {'batched clips/s':>16} {'speedup':>8} {'max abs diff':>13}")

    with tempfile.TemporaryDirectory() as folder:
        for family in args.families:
            row = bench_family(family, clips, Path(folder))
            print(
                f"{row['model']:<11} {row['reference_clips_per_s']:>18.3f} {row['batched_clips_per_s']:>16.3f} "
                f"{row['speedup']:>8.2f} {row['max_abs_diff']:>13.2e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
