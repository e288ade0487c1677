"""Parity of the batched Kaldi filterbank with torchaudio's per-clip fbank."""

import pytest
import torch
import torchaudio.compliance.kaldi as torchaudio_kaldi

from asdfeat.errors import ExtractorError
from asdfeat.extractors.kaldi import KaldiFbank, KaldiFbankOptions

# Options as the BEATs and EAT front ends call torchaudio.
BEATS_CALL = dict(num_mel_bins=128, sample_frequency=16000, frame_length=25, frame_shift=10)
EAT_CALL = dict(
    htk_compat=True,
    sample_frequency=16000,
    use_energy=False,
    window_type="hanning",
    num_mel_bins=128,
    frame_shift=10,
)
ENERGY_CALL = dict(num_mel_bins=40, use_energy=True, window_type="hamming", raw_energy=False)
HTK_ENERGY_CALL = dict(num_mel_bins=40, use_energy=True, htk_compat=True, window_type="blackman", energy_floor=0.0)
LINEAR_CALL = dict(num_mel_bins=30, use_log_fbank=False, use_power=False, window_type="rectangular")

LENGTHS = [16000, 12345, 3001, 400]


def _batch(scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    waveforms = torch.randn(len(LENGTHS), max(LENGTHS), generator=generator) * scale
    return waveforms, torch.tensor(LENGTHS)


@pytest.mark.parametrize(
    "call, scale",
    [(BEATS_CALL, 2**15), (EAT_CALL, 0.3), (ENERGY_CALL, 100.0), (HTK_ENERGY_CALL, 1.0), (LINEAR_CALL, 1.0)],
    ids=["beats", "eat", "energy", "htk-energy", "linear"],
)
def test_fbank_matches_torchaudio(call, scale):
    waveforms, lengths = _batch(scale)
    features, n_frames = KaldiFbank(KaldiFbankOptions(**call))(waveforms, lengths)

    for row, length in enumerate(LENGTHS):
        expected = torchaudio_kaldi.fbank(waveforms[row : row + 1, :length], dither=0.0, **call)
        assert int(n_frames[row]) == expected.shape[0]
        torch.testing.assert_close(features[row, : n_frames[row]], expected, atol=1e-4, rtol=1e-5)
        assert torch.all(features[row, n_frames[row] :] == 0)


def test_fbank_frame_count_rule():
    options = KaldiFbankOptions(**BEATS_CALL)

    assert options.num_frames(160000) == 998
    assert options.num_frames(400) == 1
    assert options.num_frames(399) == 0


def test_fbank_without_full_frame():
    features, n_frames = KaldiFbank(KaldiFbankOptions(**BEATS_CALL))(torch.zeros(2, 300))

    assert features.shape == (2, 0, 128)
    assert n_frames.tolist() == [0, 0]


def test_fbank_rejects_bad_input_and_options():
    fbank = KaldiFbank(KaldiFbankOptions(**BEATS_CALL))
    with pytest.raises(ExtractorError, match="batch, n_samples"):
        fbank(torch.zeros(16000))
    with pytest.raises(ExtractorError, match="window_type"):
        KaldiFbankOptions(window_type="triangle")
    with pytest.raises(ExtractorError, match="preemphasis"):
        KaldiFbankOptions(preemphasis_coefficient=1.5)
    with pytest.raises(ExtractorError, match="odd"):
        KaldiFbankOptions(frame_length=25.0625, round_to_power_of_two=False)
