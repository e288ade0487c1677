"""Time the batched EAT and CED extractors against a per-clip reference-style pass.

The reference-style pass follows the authors' code, one clip at a
time: torchaudio's per-clip front end (``kaldi.fbank`` for EAT,
``MelSpectrogram`` + ``AmplitudeToDB`` for CED) and attention as an explicit
softmax of ``(q * scale) @ k^T``. The batched pass is the extractor's own
``embed`` (batched front end, ``scaled_dot_product_attention``).

Both run the same random-weight model of the chosen released size, built
from its config, on synthetic 10 s clips, and the script prints the time of
each pass, their ratio and the max abs difference of the embeddings.

Usage::

    python benchmarks/bench_eat_ced.py --model eat --size eat-base --clips 8
    python benchmarks/bench_eat_ced.py --model ced --size ced-base --clips 8
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchaudio
from safetensors.torch import save_file

from asdfeat.extractors import ced, ced_model, eat, eat_model


def eager_attention(self, x: torch.Tensor) -> torch.Tensor:
    """Compute attention as the reference code does, with an explicit softmax."""
    batch, length, dim = x.shape
    qkv = self.qkv(x).reshape(batch, length, 3, self.num_heads, dim // self.num_heads).permute(2, 0, 3, 1, 4)
    query, key, value = qkv[0], qkv[1], qkv[2]
    scores = (query * (dim // self.num_heads) ** -0.5) @ key.transpose(-2, -1)
    weights = scores.softmax(dim=-1, dtype=torch.float32).to(query.dtype)
    return self.proj((weights @ value).transpose(1, 2).reshape(batch, length, dim))


@contextlib.contextmanager
def eager_attention_in(*attention_classes):
    originals = [cls.forward for cls in attention_classes]
    for cls in attention_classes:
        cls.forward = eager_attention
    try:
        yield
    finally:
        for cls, forward in zip(attention_classes, originals):
            cls.forward = forward


def synthetic_clips(count: int, seconds: float = 10.0) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 16000)) / 16000
    return [
        (0.2 * np.sin(2 * np.pi * (200 + 50 * i) * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
        for i in range(count)
    ]


def build_eat(size: str, folder: Path) -> eat.EATExtractor:
    """Save a random-weight model of a released size in the port's layout, then load it."""
    values = {**eat_model.RELEASED_CONFIGS[size], "model_variant": "pretrain"}
    model = eat_model.EATModel(eat_model.EATConfig.from_dict(values))
    save_file(model.state_dict(), folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(values))
    return eat.EATExtractor(folder, variant=size)


def build_ced(size: str, folder: Path) -> ced.CEDExtractor:
    """Save a random-weight model of a released size with torchaudio's front-end buffers, then load it."""
    model = ced_model.CEDModel(ced_model.CEDConfig.from_dict(ced_model.RELEASED_CONFIGS[size]))
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=512, win_length=512, hop_length=160, f_min=0, f_max=8000, n_mels=64
    )
    state = model.state_dict()
    state["front_end.0.spectrogram.window"] = mel.spectrogram.window
    state["front_end.0.mel_scale.fb"] = mel.mel_scale.fb
    state["init_bn.1.running_var"] = torch.full((64,), 100.0)
    torch.save(state, folder / "ced.pt")
    return ced.CEDExtractor(folder / "ced.pt", variant=size)


def reference_eat(extractor: eat.EATExtractor, clips: list[np.ndarray]) -> np.ndarray:
    rows = []
    for clip in clips:
        source = torch.from_numpy(clip)
        source = source - source.mean()
        fbank = torchaudio.compliance.kaldi.fbank(
            source[None],
            htk_compat=True,
            sample_frequency=16000,
            use_energy=False,
            window_type="hanning",
            num_mel_bins=128,
            dither=0.0,
            frame_shift=10,
        )
        fbank = torch.nn.functional.pad(fbank, (0, 0, 0, eat.TARGET_FRAMES - len(fbank)))
        mel = ((fbank - eat.NORM_MEAN) / (eat.NORM_STD * 2))[None, None]
        rows.append(extractor.model(mel)[:, 1:].mean(dim=1))
    return torch.cat(rows).numpy()


def reference_ced(extractor: ced.CEDExtractor, clips: list[np.ndarray]) -> np.ndarray:
    model = extractor.model
    buffers = getattr(model.front_end, "0")
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000, n_fft=512, win_length=512, hop_length=160, f_min=0, f_max=8000, n_mels=64
    )
    mel.spectrogram.window.copy_(buffers.spectrogram.window)
    mel.mel_scale.fb.copy_(buffers.mel_scale.fb)
    to_db = torchaudio.transforms.AmplitudeToDB(top_db=120)

    rows = []
    for clip in clips:
        spectrogram = model.normalise(to_db(mel(torch.from_numpy(clip)[None])))
        rows.append(model.forward_features(spectrogram).mean(dim=1))
    return torch.cat(rows).numpy()


def time_call(function, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        with torch.inference_mode():
            result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["eat", "ced"], required=True)
    parser.add_argument("--size", help="released size, e.g. eat-base or ced-mini (default: the base size)")
    parser.add_argument("--clips", type=int, default=8, help="number of 10 s clips in the batch")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per pass; the minimum is reported")
    args = parser.parse_args()

    torch.manual_seed(0)
    size = args.size or f"{args.model}-base"
    clips = synthetic_clips(args.clips)
    with tempfile.TemporaryDirectory() as folder:
        if args.model == "eat":
            extractor = build_eat(size, Path(folder))
            reference, attention = reference_eat, eat_model.Attention
        else:
            extractor = build_ced(size, Path(folder))
            reference, attention = reference_ced, ced_model.Attention

    batched_seconds, batched = time_call(lambda: extractor.embed(clips), args.repeats)
    with eager_attention_in(attention):
        reference_seconds, expected = time_call(lambda: reference(extractor, clips), args.repeats)

    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{size}: {args.clips} clips of 10 s, best of {args.repeats}")
    print(f"  per-clip reference-style: {reference_seconds:8.2f} s")
    print(f"  batched extractor:        {batched_seconds:8.2f} s")
    print(f"  ratio reference / batched: {reference_seconds / batched_seconds:.2f}")
    print(f"  max abs embedding difference: {np.abs(batched - expected).max():.2e}")


if __name__ == "__main__":
    main()
