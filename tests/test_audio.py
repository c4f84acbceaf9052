import numpy as np
import pytest
import soundfile as sf

from benchmark.audio import AudioError, audio_info, check_audio, file_fingerprint, fit_length, load_audio

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"]
RATES = [8000, 22050, 44100, 48000]
# Quantisation noise of each format bounds how well the amplitude can survive.
AMP_TOL = {"PCM_U8": 0.03, "PCM_16": 0.005, "PCM_24": 0.005, "PCM_32": 0.005, "FLOAT": 0.005, "DOUBLE": 0.005}


def _sine(freq, sr, seconds, amp=0.5):
    t = np.arange(int(round(seconds * sr))) / sr
    return amp * np.sin(2 * np.pi * freq * t)


def _peak_freq_and_amp(x, sr):
    # Drop the edges (resampler transients), window, and read the spectral peak.
    x = x[len(x) // 10: -len(x) // 10]
    w = np.hanning(len(x))
    spec = np.abs(np.fft.rfft(x * w))
    k = int(np.argmax(spec))
    freqs = np.fft.rfftfreq(len(x), 1 / sr)
    amp = 2 * spec[k] / w.sum()
    return freqs[k], amp


@pytest.mark.parametrize("subtype", SUBTYPES)
@pytest.mark.parametrize("sr", RATES)
@pytest.mark.parametrize("channels", [1, 2])
def test_decode_every_format_to_16k(tmp_path, subtype, sr, channels):
    seconds, f0 = 0.5, 1000.0
    x = _sine(f0, sr, seconds)
    data = x if channels == 1 else np.stack([x, x], axis=1)
    path = tmp_path / f"s_{subtype}_{sr}_{channels}.wav"
    sf.write(path, data, sr, subtype=subtype)

    info = audio_info(path)
    assert (info.sample_rate, info.channels, info.frames, info.subtype) == (sr, channels, len(x), subtype)

    y = load_audio(path, 16000)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - seconds * 16000) <= 1
    freq, amp = _peak_freq_and_amp(y, 16000)
    assert abs(freq - f0) <= 16000 / (0.8 * len(y)) + 1e-9  # within one FFT bin
    assert amp == pytest.approx(0.5, abs=AMP_TOL[subtype])


def test_downmix_averages_channels(tmp_path):
    sr = 16000
    left = _sine(500, sr, 0.25, amp=0.4)
    right = _sine(2000, sr, 0.25, amp=0.2)
    path = tmp_path / "st.wav"
    sf.write(path, np.stack([left, right], 1), sr, subtype="FLOAT")
    y = load_audio(path, sr)
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-6)
    both = load_audio(path, sr, mono=False)
    assert both.shape == (len(left), 2)
    np.testing.assert_allclose(both[:, 1], right, atol=1e-6)


def test_resampling_removes_content_above_new_nyquist(tmp_path):
    # A 12 kHz tone at 44.1 kHz cannot exist at 16 kHz; a proper resampler
    # removes it instead of aliasing it to 4 kHz.
    sr = 44100
    path = tmp_path / "hi.wav"
    sf.write(path, _sine(12000, sr, 0.5), sr, subtype="FLOAT")
    y = load_audio(path, 16000)
    assert np.sqrt(np.mean(y[800:-800] ** 2)) < 1e-3


def test_offset_duration_crop_and_pad(tmp_path):
    sr = 8000
    ramp = np.linspace(-0.9, 0.9, sr)  # 1 s
    path = tmp_path / "r.wav"
    sf.write(path, ramp, sr, subtype="DOUBLE")
    y = load_audio(path, sr, offset=0.25, duration=0.5)
    assert len(y) == 4000
    np.testing.assert_allclose(y, ramp[2000:6000], atol=1e-6)
    padded = load_audio(path, sr, offset=0.75, duration=0.5)
    assert len(padded) == 4000
    np.testing.assert_allclose(padded[:2000], ramp[6000:], atol=1e-6)
    assert np.all(padded[2000:] == 0)
    # Resampled crop has the target-rate length.
    assert len(load_audio(path, 16000, duration=2.0)) == 32000


def test_fit_length():
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(x, 3), [0, 1, 2])
    np.testing.assert_array_equal(fit_length(x, 7), [0, 1, 2, 3, 4, 0, 0])
    assert fit_length(np.ones((2, 3)), 4).shape == (4, 3)
    with pytest.raises(ValueError):
        fit_length(x, -1)


def test_corrupt_file_raises_with_reason(tmp_path):
    path = tmp_path / "junk.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio at all" * 3)
    for fn in (audio_info, check_audio, lambda p: load_audio(p, 16000)):
        with pytest.raises(AudioError) as e:
            fn(path)
        assert "unreadable" in e.value.reason and e.value.path == str(path)


def test_zero_byte_and_missing_files(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="unreadable"):
        check_audio(empty)
    with pytest.raises(AudioError, match="unreadable"):
        load_audio(tmp_path / "missing.wav", 16000)


def test_zero_length_wav_raises(tmp_path):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="empty"):
        check_audio(path)
    with pytest.raises(AudioError, match="empty"):
        load_audio(path, 16000)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_raise(tmp_path, bad):
    x = np.zeros(4000, dtype=np.float32)
    x[1234] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or Inf"):
        check_audio(path)
    with pytest.raises(AudioError, match="NaN or Inf"):
        load_audio(path, 16000)


def test_check_audio_counts_decoded_frames(tmp_path):
    path = tmp_path / "ok.wav"
    sf.write(path, np.zeros((3000, 2)), 22050, subtype="PCM_24")
    info = check_audio(path)
    assert (info.frames, info.channels, info.sample_rate) == (3000, 2, 22050)
    assert info.duration == pytest.approx(3000 / 22050)


def test_fingerprint_tracks_content(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    sf.write(a, _sine(440, 16000, 0.1), 16000)
    sf.write(b, _sine(441, 16000, 0.1), 16000)
    assert file_fingerprint(a) != file_fingerprint(b)
    c = tmp_path / "c.wav"
    c.write_bytes(a.read_bytes())
    assert file_fingerprint(a) == file_fingerprint(c)
