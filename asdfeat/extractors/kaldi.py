"""Batched Kaldi filterbank features, equal to ``torchaudio.compliance.kaldi.fbank``.

:func:`torchaudio.compliance.kaldi.fbank` takes one waveform at a time. The
:class:`KaldiFbank` module computes the same features for a padded batch in
one pass. It frames every clip with ``unfold`` and runs the per-frame steps
(DC offset removal, pre-emphasis, window, FFT, mel filterbank, log) on the
whole batch. It also returns the frame count of each clip.

With ``snip_edges=True`` (the Kaldi default, the only mode supported here)
frame ``i`` covers samples ``[i * shift, i * shift + length)``, so padding
after the end of a clip does not change any of its valid frames.

Supported: the window types ``povey``, ``hanning``, ``hamming``,
``rectangular`` and ``blackman``, pre-emphasis, DC offset removal, power or
magnitude spectra, log or linear filterbanks, and the energy column in front
(Kaldi order) or last (``htk_compat``). Not supported: dither, VTLN warping,
``snip_edges=False`` and ``subtract_mean``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torchaudio.compliance.kaldi import get_mel_banks

from asdfeat.errors import ExtractorError

_WINDOW_TYPES = ("povey", "hanning", "hamming", "rectangular", "blackman")

# Kaldi floors power spectra and energies at FLT_EPSILON before taking the log.
_FLOAT_EPSILON = torch.finfo(torch.float32).eps


@dataclass(frozen=True)
class KaldiFbankOptions:
    """Options of Kaldi's ``compute-fbank-feats``, named as in torchaudio.

    Defaults are the torchaudio defaults, except that unsupported options
    (dither, VTLN, ``snip_edges=False``, ``subtract_mean``) are absent.
    Times are in milliseconds and frequencies in Hz.
    """

    num_mel_bins: int = 23
    sample_frequency: float = 16000.0
    frame_length: float = 25.0
    frame_shift: float = 10.0
    window_type: str = "povey"
    blackman_coeff: float = 0.42
    preemphasis_coefficient: float = 0.97
    remove_dc_offset: bool = True
    round_to_power_of_two: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0
    use_power: bool = True
    use_log_fbank: bool = True
    use_energy: bool = False
    raw_energy: bool = True
    energy_floor: float = 1.0
    htk_compat: bool = False

    def __post_init__(self):
        if self.window_type not in _WINDOW_TYPES:
            raise ExtractorError(f"invalid Kaldi window_type {self.window_type!r}; choose one of {_WINDOW_TYPES}")
        if not 0.0 <= self.preemphasis_coefficient <= 1.0:
            raise ExtractorError(
                f"invalid preemphasis_coefficient {self.preemphasis_coefficient}; it must be in [0, 1]"
            )
        if self.window_shift < 1 or self.window_size < 2:
            raise ExtractorError(
                f"frame_length {self.frame_length} ms and frame_shift {self.frame_shift} ms give "
                f"{self.window_size} and {self.window_shift} samples; need at least 2 and 1"
            )
        if self.padded_window_size % 2:
            raise ExtractorError(
                f"the FFT size {self.padded_window_size} is odd; set round_to_power_of_two or change frame_length"
            )

    @property
    def window_size(self) -> int:
        """Frame length in samples."""
        return int(self.sample_frequency * self.frame_length * 0.001)

    @property
    def window_shift(self) -> int:
        """Frame shift in samples."""
        return int(self.sample_frequency * self.frame_shift * 0.001)

    @property
    def padded_window_size(self) -> int:
        """FFT size: the frame length, rounded up to a power of two if requested."""
        if not self.round_to_power_of_two:
            return self.window_size
        return 1 << (self.window_size - 1).bit_length()

    @property
    def num_features(self) -> int:
        """Columns of the output: mel bins, plus one when the energy is included."""
        return self.num_mel_bins + int(self.use_energy)

    def num_frames(self, num_samples: int) -> int:
        """Count the frames that fit completely in ``num_samples`` samples."""
        if num_samples < self.window_size:
            return 0
        return 1 + (num_samples - self.window_size) // self.window_shift

    def to_dict(self) -> dict:
        """Return the options as a plain dict, for provenance records."""
        return asdict(self)


class KaldiFbank(torch.nn.Module):
    """Kaldi log mel filterbank for a batch of waveforms.

    The window and the mel matrix are buffers, so ``.to(device)`` moves them
    with the module.

    Parameters
    ----------
    options : KaldiFbankOptions, optional
        Feature options; the torchaudio defaults when omitted.
    """

    def __init__(self, options: KaldiFbankOptions | None = None):
        super().__init__()
        self.options = options or KaldiFbankOptions()

        self.register_buffer("window", _frame_window(self.options), persistent=False)
        self.register_buffer("mel_matrix", _mel_matrix(self.options), persistent=False)

    def forward(
        self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute filterbank features for a padded batch.

        Parameters
        ----------
        waveforms : Tensor of shape (batch, n_samples), float32
            Clips padded at the end to a common length, in the same scale as
            the reference call (e.g. multiplied by 2**15 for BEATs).
        lengths : Tensor of shape (batch,), int, optional
            Valid samples per clip; all ``n_samples`` when omitted.

        Returns
        -------
        features : Tensor of shape (batch, n_frames_max, num_features)
            Frame ``t`` of clip ``b`` equals row ``t`` of
            ``torchaudio.compliance.kaldi.fbank(waveforms[b:b+1, :lengths[b]], ...)``
            for ``t < n_frames[b]``; rows past ``n_frames[b]`` are zero.
        n_frames : Tensor of shape (batch,), int64
            Valid frames per clip.
        """
        options = self.options
        if waveforms.dim() != 2:
            raise ExtractorError(f"expected waveforms of shape (batch, n_samples), got {tuple(waveforms.shape)}")

        total = waveforms.shape[1]
        if lengths is None:
            lengths = torch.full((waveforms.shape[0],), total, dtype=torch.long)
        n_frames = torch.tensor([options.num_frames(int(n)) for n in lengths], dtype=torch.long)

        max_frames = int(n_frames.max()) if len(n_frames) else 0
        if max_frames == 0:
            empty = waveforms.new_zeros((waveforms.shape[0], 0, options.num_features))
            return empty, n_frames

        frames = waveforms.unfold(1, options.window_size, options.window_shift)[:, :max_frames]
        features = self._frames_to_features(frames)

        valid = torch.arange(max_frames, device=features.device)[None, :] < n_frames.to(features.device)[:, None]
        features = features.masked_fill(~valid[:, :, None], 0.0)
        return features, n_frames

    def _frames_to_features(self, frames: torch.Tensor) -> torch.Tensor:
        options = self.options
        epsilon = torch.tensor(_FLOAT_EPSILON, dtype=frames.dtype, device=frames.device)

        if options.remove_dc_offset:
            frames = frames - frames.mean(dim=-1, keepdim=True)

        if options.use_energy and options.raw_energy:
            log_energy = _log_energy(frames, epsilon, options.energy_floor)

        if options.preemphasis_coefficient != 0.0:
            # Kaldi repeats the first sample of each frame as its predecessor.
            previous = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
            frames = frames - options.preemphasis_coefficient * previous

        frames = frames * self.window
        padding = options.padded_window_size - options.window_size
        if padding:
            frames = torch.nn.functional.pad(frames, (0, padding))

        if options.use_energy and not options.raw_energy:
            log_energy = _log_energy(frames, epsilon, options.energy_floor)

        spectrum = torch.fft.rfft(frames).abs()
        if options.use_power:
            spectrum = spectrum.pow(2.0)
        features = torch.matmul(spectrum, self.mel_matrix.T)
        if options.use_log_fbank:
            features = torch.maximum(features, epsilon).log()

        if options.use_energy:
            energy = log_energy.unsqueeze(-1)
            parts = (features, energy) if options.htk_compat else (energy, features)
            features = torch.cat(parts, dim=-1)
        return features


def _log_energy(frames: torch.Tensor, epsilon: torch.Tensor, energy_floor: float) -> torch.Tensor:
    log_energy = torch.maximum(frames.pow(2).sum(-1), epsilon).log()
    if energy_floor == 0.0:
        return log_energy
    return torch.clamp(log_energy, min=math.log(energy_floor))


def _frame_window(options: KaldiFbankOptions) -> torch.Tensor:
    size = options.window_size
    if options.window_type == "hanning":
        return torch.hann_window(size, periodic=False)
    if options.window_type == "povey":
        return torch.hann_window(size, periodic=False).pow(0.85)
    if options.window_type == "hamming":
        return torch.hamming_window(size, periodic=False, alpha=0.54, beta=0.46)
    if options.window_type == "rectangular":
        return torch.ones(size)

    # Kaldi's generalised Blackman window; torch.blackman_window fixes the coefficient at 0.42.
    step = 2 * math.pi / (size - 1)
    n = torch.arange(size, dtype=torch.float32)
    coeff = options.blackman_coeff
    return coeff - 0.5 * torch.cos(step * n) + (0.5 - coeff) * torch.cos(2 * step * n)


def _mel_matrix(options: KaldiFbankOptions) -> torch.Tensor:
    # get_mel_banks returns (num_mel_bins, fft_size / 2); Kaldi gives the
    # Nyquist bin zero weight, so one zero column completes the rfft size.
    banks, _ = get_mel_banks(
        options.num_mel_bins,
        options.padded_window_size,
        options.sample_frequency,
        options.low_freq,
        options.high_freq,
        100.0,
        -500.0,
        1.0,
    )
    return torch.nn.functional.pad(banks.float(), (0, 1))
