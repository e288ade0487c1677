"""Audio decoding: channel choice, resampling and clear errors for broken files."""

import logging

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from asdfeat.data.audio import load_audio
from asdfeat.errors import AudioError


def _sine(frequency, seconds, sample_rate, amplitude=0.5):
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    return amplitude * np.sin(2 * np.pi * frequency * time)


def test_load_pcm16_values(tmp_path, write_wav):
    samples = _sine(440, 0.5, 16000)
    path = write_wav(tmp_path / "a.wav", samples)

    waveform = load_audio(path)

    assert waveform.dtype == np.float32
    assert waveform.shape == (8000,)
    np.testing.assert_allclose(waveform, samples, atol=1 / 32768)


def test_load_stereo_channel_choice(tmp_path, write_wav):
    left = _sine(300, 0.25, 16000)
    right = _sine(1200, 0.25, 16000, amplitude=0.2)
    path = write_wav(tmp_path / "stereo.wav", np.stack([left, right], axis=1))

    near = load_audio(path)
    far = load_audio(path, channel=1)

    np.testing.assert_allclose(near, left, atol=1 / 32768)
    np.testing.assert_allclose(far, right, atol=1 / 32768)


def test_load_channel_out_of_range(tmp_path, write_wav):
    path = write_wav(tmp_path / "stereo.wav", np.zeros((100, 2)) + 0.1)

    with pytest.raises(AudioError) as error:
        load_audio(path, channel=2)

    assert "stereo.wav" in str(error.value)
    assert "has 2 channel(s)" in str(error.value)


def test_load_resamples_44100(tmp_path, caplog, write_wav):
    samples = _sine(1000, 1.0, 44100)
    path = write_wav(tmp_path / "cd.wav", samples, sample_rate=44100, subtype="FLOAT")

    with caplog.at_level(logging.INFO, logger="asdfeat.data.audio"):
        waveform = load_audio(path)

    expected = resample_poly(samples.astype(np.float32), 160, 441)
    assert waveform.shape == (16000,)
    np.testing.assert_allclose(waveform, np.clip(expected, -1, 1), atol=1e-6)
    spectrum = np.abs(np.fft.rfft(waveform))
    assert np.argmax(spectrum) == 1000
    assert any("from 44100 Hz to 16000 Hz" in record.getMessage() for record in caplog.records)


def test_load_keeps_varying_lengths(tmp_path, write_wav):
    short = write_wav(tmp_path / "short.wav", _sine(200, 0.3, 16000))
    long = write_wav(tmp_path / "long.wav", _sine(200, 1.1, 16000))

    assert load_audio(short).shape == (4800,)
    assert load_audio(long).shape == (17600,)


def test_load_clips_float_overshoot(tmp_path, write_wav):
    path = write_wav(tmp_path / "loud.wav", np.array([0.5, 1.5, -2.0, 0.1]), subtype="FLOAT")

    waveform = load_audio(path)

    np.testing.assert_array_equal(waveform, np.array([0.5, 1.0, -1.0, 0.1], dtype=np.float32))


def test_load_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.wav"
    path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEjunk" + bytes(range(200)))

    with pytest.raises(AudioError) as error:
        load_audio(path)

    assert "corrupt.wav" in str(error.value)
    assert "cannot decode" in str(error.value)


def test_load_text_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("not audio at all")

    with pytest.raises(AudioError, match="cannot decode"):
        load_audio(path)


def test_load_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")

    with pytest.raises(AudioError, match=r"empty.wav' is empty \(0 bytes\)"):
        load_audio(path)


def test_load_zero_length_audio(tmp_path, write_wav):
    path = write_wav(tmp_path / "nothing.wav", np.zeros(0))
    assert path.stat().st_size > 0

    with pytest.raises(AudioError, match="zero-length audio"):
        load_audio(path)


def test_load_silent_file(tmp_path, write_wav):
    path = write_wav(tmp_path / "silent.wav", np.zeros(1600))

    with pytest.raises(AudioError, match="digitally silent"):
        load_audio(path)


def test_load_non_finite_samples(tmp_path, write_wav):
    samples = _sine(100, 0.1, 16000)
    samples[10] = np.nan
    samples[20] = np.inf
    path = write_wav(tmp_path / "nan.wav", samples, subtype="FLOAT")

    with pytest.raises(AudioError, match="contains 2 NaN or infinite sample"):
        load_audio(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(AudioError, match="not found"):
        load_audio(tmp_path / "missing.wav")


@pytest.mark.parametrize("options", [{"sample_rate": 0}, {"sample_rate": 16000.5}, {"channel": -1}])
def test_load_invalid_options(tmp_path, options, write_wav):
    path = write_wav(tmp_path / "a.wav")

    with pytest.raises(AudioError, match="invalid"):
        load_audio(path, **options)


def test_load_flac(tmp_path):
    samples = _sine(500, 0.2, 16000)
    path = tmp_path / "a.flac"
    sf.write(path, samples, 16000, subtype="PCM_16")

    np.testing.assert_allclose(load_audio(path), samples, atol=1 / 32768)
