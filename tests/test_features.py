import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import benchmark.features as feat
from benchmark.data import AdapterOutput, Example
from benchmark.errors import UserError
from benchmark.features import (FeatureConfig, FeatureStore, cache_folder, compute_logmel,
                                extract_features, mel_bins_per_octave, mel_center_hz,
                                modulation_transfer_db)
from benchmark.prepare import prepare


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _signal(sr=16000, seconds=1.5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    chirp = 0.3 * np.sin(2 * np.pi * (200 * t + 1500 * t ** 2))
    x = chirp + 0.02 * rng.standard_normal(len(t))
    x[: sr // 4] = 0.0  # digital silence exercises the floor
    return x


def _librosa_logmel(x, cfg):
    librosa = pytest.importorskip("librosa")
    S = librosa.feature.melspectrogram(
        y=x, sr=cfg.sample_rate, n_fft=cfg.fft_size, hop_length=cfg.hop_length,
        win_length=cfg.win_length, window="hann", center=True, pad_mode="constant", power=2.0,
        n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax_hz, htk=False, norm="slaney")
    return librosa.power_to_db(S, ref=1.0, amin=cfg.amin, top_db=cfg.top_db).T


@pytest.mark.parametrize("cfg", [
    FeatureConfig(),
    FeatureConfig(sample_rate=22050, n_mels=40, win_ms=30, hop_ms=12.5, fmin=50, fmax=9000),
    FeatureConfig(n_fft=2048, top_db=80.0),  # the reference code's FFT size, clamped per clip
    FeatureConfig(n_fft=2048, window="fft"),   # and its effective window: 128 ms Hann
])
def test_matches_librosa(cfg):
    x = _signal(cfg.sample_rate)
    ours = compute_logmel(x.astype(np.float32), cfg)
    ref = _librosa_logmel(x.astype(np.float32).astype(np.float64), cfg)
    assert ours.dtype == np.float32 and ours.shape == ref.shape == (cfg.n_frames(len(x)), cfg.n_mels)
    np.testing.assert_allclose(ours, ref, atol=1e-3)
    if cfg.top_db is None:
        assert ours.min() == pytest.approx(-100.0)  # floor: 10*log10(amin) in the silence


REAL = Path(__file__).parent / "data" / "real"


@pytest.mark.parametrize("rel, cfg", [
    ("ami/trñ00.flac", FeatureConfig()),                                   # meeting, 16 kHz
    ("librispeech/2414/2414-128291-0009.flac", FeatureConfig(n_mels=40)),  # read speech
    ("esc50/1-100032-A-0.flac", FeatureConfig(sample_rate=44100, win_ms=64.0, hop_ms=25.0,
                                              n_fft=2822, fmax=8000.0)),   # urban protocol
    ("zebra_finch/WhiLbl0010_110411-DC-01.wav",                             # stereo 44.1 kHz
     FeatureConfig(sample_rate=44100, n_fft=2048, fmin=300.0, fmax=12000.0, top_db=80.0)),
])
def test_real_recordings_match_librosa(rel, cfg):
    """Decoding and log-mel of real files (at their own rate) agree with librosa's."""
    librosa = pytest.importorskip("librosa")
    path = REAL / rel
    y, sr = librosa.load(path, sr=None, mono=True)
    assert sr == cfg.sample_rate
    ours = feat.logmel_file(path, cfg)
    ref = _librosa_logmel(y.astype(np.float64), cfg)
    assert ours.shape == ref.shape and len(ours) > 10
    np.testing.assert_allclose(ours, ref, atol=1e-3)


@pytest.mark.parametrize("level", ["clip_mean", "clip_p95", "band_mean"])
@pytest.mark.parametrize("top_db", [None, 80.0])
def test_level_normalisation_is_gain_invariant(level, top_db):
    # digital silence at the start, and zero padding at the end (as clip_seconds pads)
    x = np.r_[_signal(), np.zeros(8000)].astype(np.float32)
    cfg = FeatureConfig(level=level, top_db=top_db)
    ref = compute_logmel(x, cfg)
    for gain_db in (-20.0, 20.0):
        scaled = compute_logmel(x * np.float32(10 ** (gain_db / 20)), cfg)
        np.testing.assert_allclose(scaled, ref, atol=1e-4, rtol=0)
    # Without it the features move with the gain, bin for bin (where above the floor).
    raw = FeatureConfig(top_db=top_db)
    shift = compute_logmel(x * np.float32(10.0), raw) - compute_logmel(x, raw)
    assert np.median(shift) == pytest.approx(20.0, abs=1e-3)
    # What is subtracted is the named statistic of the clip's own (clamped) log-mel.
    floor = raw if top_db is not None else FeatureConfig(top_db=100.0)
    plain = compute_logmel(x, floor).astype(np.float64)
    np.testing.assert_allclose(ref, plain - feat.clip_level(plain, level), atol=1e-4)


def test_level_statistics():
    db = np.array([[0.0, 2.0], [10.0, 12.0], [-50.0, -50.0]] + [[1.0, 1.0]] * 17)
    assert feat.clip_level(db, "clip_mean") == pytest.approx(db.mean())
    # p95 of per-frame means: near the loud frames, untouched by the silent one
    assert feat.clip_level(db, "clip_p95") == pytest.approx(np.percentile(db.mean(1), 95))
    assert 1.0 < feat.clip_level(db, "clip_p95") <= 11.0
    np.testing.assert_allclose(feat.clip_level(db, "band_mean"), db.mean(0, keepdims=True))
    with pytest.raises(ValueError, match="unknown level"):
        feat.clip_level(db, "peak")


def test_config_is_keyword_only():
    with pytest.raises(TypeError):
        FeatureConfig(16000, 64)  # positional fields were easy to misalign


def test_config_derived_values_and_hash():
    cfg = FeatureConfig()
    assert (cfg.win_length, cfg.hop_length, cfg.fft_size, cfg.fmax_hz) == (400, 160, 512, 8000.0)
    assert cfg.frame_rate_hz == 100.0
    assert FeatureConfig(sample_rate=44100).frame_rate_hz == pytest.approx(100.0)
    assert cfg.hash() == FeatureConfig().hash() and len(cfg.hash()) == 12
    assert len({cfg.hash(), FeatureConfig(n_mels=40).hash(), FeatureConfig(clip_seconds=4.0).hash(),
                FeatureConfig(top_db=80.0).hash(), FeatureConfig(level="clip_p95").hash()}) == 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_mels = 3


@pytest.mark.parametrize("kwargs", [dict(fmax=9000), dict(n_fft=256), dict(hop_ms=0), dict(clip_seconds=-1),
                                    dict(fmin=8000), dict(level="peak"), dict(window="hamming")])
def test_bad_config_is_a_user_error(kwargs):
    with pytest.raises(UserError, match=next(iter(kwargs))):
        FeatureConfig(**kwargs)


def test_mel_bins_per_octave():
    cfg = FeatureConfig()
    assert mel_bins_per_octave(cfg, 2000) == pytest.approx(14.5, abs=0.05)
    assert mel_bins_per_octave(cfg, 4000) == pytest.approx(mel_bins_per_octave(cfg, 2000))
    # Linear below 1 kHz: density proportional to frequency.
    assert mel_bins_per_octave(cfg, 250) == pytest.approx(mel_bins_per_octave(cfg, 500) / 2)
    # Cross-check against the actual bin centres: count bins in the octave 2-4 kHz.
    centres = mel_center_hz(cfg)
    assert np.sum((centres >= 2000) & (centres < 4000)) in (14, 15)


# ---------------------------------------------------------------- cache

def _dataset(root, files):
    root.mkdir(parents=True, exist_ok=True)
    for name, (x, sr) in files.items():
        sf.write(root / name, x, sr, subtype="FLOAT")
    exs = [Example(id=n, path=n, label="a", fold=1) for n in files]
    return prepare("toy", root, reader=lambda n, r: AdapterOutput(exs), progress=False)


def test_clip_features_do_not_depend_on_dataset_mates(tmp_path):
    quiet = 0.01 * _signal(seconds=1.0)
    loud = 0.99 * np.sign(_signal(seconds=1.0, seed=1))
    for cfg in (FeatureConfig(level="clip_p95"), FeatureConfig(), FeatureConfig(top_db=60.0)):
        alone = extract_features(_dataset(tmp_path / "alone", {"q.wav": (quiet, 16000)}), cfg, progress=False)
        mixed = extract_features(_dataset(tmp_path / "mixed", {"l.wav": (loud, 16000), "q.wav": (quiet, 16000)}),
                                 cfg, progress=False)
        q = mixed.get("q.wav")
        np.testing.assert_array_equal(q, alone.get("q.wav"))
        np.testing.assert_array_equal(q, compute_logmel(quiet.astype(np.float32), cfg))
    # The clamp is relative to the quiet clip's own maximum, not the loud neighbour's.
    assert mixed.get("l.wav").max() - q.max() > 30
    assert q.min() == pytest.approx(q.max() - 60.0, abs=1e-3)
    assert q.min() < mixed.get("l.wav").max() - 60.0


def test_store_contents_and_clip_seconds(tmp_path):
    prepared = _dataset(tmp_path / "ds", {"a.wav": (_signal(44100, 1.0), 44100),
                                          "b.wav": (_signal(8000, 3.0), 8000)})
    store = extract_features(prepared, FeatureConfig(clip_seconds=2.0), progress=False)
    assert len(store) == 2 and store.ids == ["a.wav", "b.wav"] and "a.wav" in store and "zz" not in store
    assert store.frame_rate_hz == 100.0 and store.config.clip_seconds == 2.0
    for i in store.ids:
        f = store.get(i)
        assert f.shape == (201, 64) and f.dtype == np.float32 and np.isfinite(f).all()
    # a.wav is 1 s padded to 2 s: the second half is at the floor.
    assert np.all(store.get("a.wav")[110:] == -100.0)
    whole = extract_features(prepared, FeatureConfig(), progress=False)
    assert whole.get("a.wav").shape == (101, 64) and whole.get("b.wav").shape == (301, 64)
    with pytest.raises(KeyError, match="zz"):
        store.get("zz")


def test_second_call_hits_the_cache(tmp_path, monkeypatch):
    prepared = _dataset(tmp_path / "ds", {"a.wav": (_signal(), 16000), "b.wav": (_signal(seed=2), 16000)})
    calls = []
    real = feat.compute_logmel
    monkeypatch.setattr(feat, "compute_logmel", lambda x, c: calls.append(1) or real(x, c))
    first = extract_features(prepared, FeatureConfig(), progress=False)
    assert len(calls) == 2
    second = extract_features(prepared, FeatureConfig(), progress=False)
    assert len(calls) == 2 and second.path == first.path
    np.testing.assert_array_equal(second.get("b.wav"), first.get("b.wav"))
    other = extract_features(prepared, FeatureConfig(n_mels=40), progress=False)
    assert len(calls) == 4 and other.path != first.path and other.get("a.wav").shape[1] == 40
    assert first.path == cache_folder(prepared, FeatureConfig())
    assert first.path.name == f"{prepared.checksum}-{FeatureConfig().hash()}"


def test_interrupted_extraction_leaves_nothing_valid(tmp_path, monkeypatch):
    prepared = _dataset(tmp_path / "ds", {f"{i}.wav": (_signal(seed=i), 16000) for i in range(3)})
    cfg = FeatureConfig()
    real = feat.compute_logmel
    calls = []

    def flaky(x, c):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(x, c)

    monkeypatch.setattr(feat, "compute_logmel", flaky)
    with pytest.raises(KeyboardInterrupt):
        extract_features(prepared, cfg, progress=False)
    folder = cache_folder(prepared, cfg)
    assert not folder.exists()
    assert [p.name for p in folder.parent.iterdir() if not p.name.endswith(".lock")] == []

    # A killed run's leftover temp folder is cleaned and the next run completes.
    (folder.parent / f".{folder.name}.tmpdead").mkdir()
    monkeypatch.setattr(feat, "compute_logmel", real)
    store = extract_features(prepared, cfg, progress=False)
    assert len(store) == 3 and not (folder.parent / f".{folder.name}.tmpdead").exists()


def test_truncated_cache_is_rebuilt(tmp_path):
    prepared = _dataset(tmp_path / "ds", {"a.wav": (_signal(), 16000)})
    store = extract_features(prepared, FeatureConfig(), progress=False)
    ref = store.get("a.wav")
    with open(store.path / "frames.f32", "r+b") as f:
        f.truncate(100)
    again = extract_features(prepared, FeatureConfig(), progress=False)
    np.testing.assert_array_equal(again.get("a.wav"), ref)


def test_undecodable_file_is_recorded_not_raised(tmp_path):
    prepared = _dataset(tmp_path / "ds", {"a.wav": (_signal(), 16000), "b.wav": (_signal(seed=3), 16000)})
    (tmp_path / "ds" / "b.wav").write_bytes(b"gone bad after preparation")
    store = extract_features(prepared, FeatureConfig(), progress=False)
    assert store.ids == ["a.wav"] and "b.wav" not in store
    assert [s.path for s in store.failed] == ["b.wav"] and "unreadable" in store.failed[0].reason
    with pytest.raises(KeyError, match="failed to decode"):
        store.get("b.wav")
    assert isinstance(FeatureStore(store.path), FeatureStore)
    assert os.path.getsize(store.path / "frames.f32") == 4 * 64 * store.n_frames("a.wav")


def test_the_original_codes_window_is_the_whole_fft():
    ref = FeatureConfig(n_fft=2048, window="fft")
    assert (ref.win_length, ref.fft_size) == (2048, 2048)          # 128 ms at 16 kHz
    assert FeatureConfig(n_fft=2048).win_length == 400              # the declared 25 ms
    assert ref.hash() != FeatureConfig(n_fft=2048).hash()


@pytest.mark.parametrize("cfg, freqs, expected", [
    # the original code's effective window: -3 dB at 7.2 Hz, -6 dB at 10 Hz, -29 dB at 20 Hz
    (FeatureConfig(n_fft=2048, window="fft"), (4.0, 7.2, 10.0, 20.0), (-0.9, -3.0, -5.9, -29.3)),
    # the 25 ms window: -3 dB at 37 Hz
    (FeatureConfig(), (10.0, 20.0, 37.0), (-0.2, -0.9, -3.0)),
])
def test_measured_modulation_transfer_matches_the_window(cfg, freqs, expected):
    # Noise whose power envelope is 1 + m cos(2 pi f t): the depth of that modulation in the
    # frames' mel power, over m, is what the features let through at f.
    sr, seconds, m = cfg.sample_rate, 20, 0.9
    t = np.arange(sr * seconds) / sr
    rng = np.random.default_rng(0)
    analytic = modulation_transfer_db(cfg, np.array(freqs))
    np.testing.assert_allclose(analytic, expected, atol=0.1)
    for f, want in zip(freqs, analytic):
        x = rng.standard_normal(len(t)) * np.sqrt(1 + m * np.cos(2 * np.pi * f * t))
        p = (10.0 ** (compute_logmel(x, cfg).astype(np.float64) / 10)).sum(axis=1)
        tt = np.arange(len(p)) * cfg.hop_length / sr
        keep = (tt > 0.5) & (tt < seconds - 0.5)        # away from the zero-padded ends
        depth = 2 * abs(np.mean(p[keep] * np.exp(-2j * np.pi * f * tt[keep]))) / p[keep].mean()
        assert 20 * np.log10(depth / m) == pytest.approx(want, abs=0.5), f


def test_clips_can_be_zero_padded_at_the_start(tmp_path):
    sr = 16000
    x = _signal(sr, seconds=0.5)[sr // 4:]                  # 0.25 s of chirp, no silence
    sf.write(tmp_path / "short.wav", x, sr, subtype="FLOAT")
    end = FeatureConfig(clip_seconds=1.0, top_db=80.0)
    start = dataclasses.replace(end, pad="start")
    n = sr
    want = {"end": np.concatenate([x, np.zeros(n - len(x))]),
            "start": np.concatenate([np.zeros(n - len(x)), x])}
    for cfg, key in ((end, "end"), (start, "start")):
        got = feat.logmel_file(tmp_path / "short.wav", cfg)
        np.testing.assert_allclose(got, compute_logmel(want[key].astype(np.float32), cfg), atol=1e-4)
    s = feat.logmel_file(tmp_path / "short.wav", start)
    assert s[:50].max() == s.min() and s[-10:].mean() > s.min() + 20   # silence first, sound last
