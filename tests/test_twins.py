"""Synthetic twins, read back through the real adapters."""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark import twins
from benchmark.twins import esc50, zebra_finch
from benchmark.adapters import read_dataset
from benchmark.data import TWIN_MARKER
from benchmark.errors import UserError
from benchmark.io import read_json


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Every tiny twin (seed 0), built once: {name: (root, AdapterOutput)}."""
    base = tmp_path_factory.mktemp("twins")
    out = {}
    for name in twins.TWINS:
        root = twins.synth(name, base / name, size="tiny", seed=0)
        out[name] = (root, read_dataset(name, root))
    return out


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_groups_in_one_place(examples, key):
    place = {}
    for e in examples:
        assert place.setdefault(e.group, key(e)) == key(e), f"group {e.group} straddles"


@pytest.mark.parametrize("name", twins.TWINS)
def test_marker_and_no_skips(tiny, name):
    root, out = tiny[name]
    assert read_json(root / TWIN_MARKER) == {"dataset": name, "size": "tiny", "seed": 0,
                                            "generator_version": twins.GENERATOR_VERSION}
    assert out.skips == [] and out.examples and out.protocol
    for e in out.examples:
        assert Path(e.path).is_file() and (root / Path(e.path).relative_to(root)).exists()
        assert sf.info(e.path).frames > 0


def test_urbansound8k_twin(tiny):
    root, out = tiny["urbansound8k"]
    labels = Counter(e.label for e in out.examples)
    assert len(labels) == 10 and set(labels.values()) == {3}
    assert {e.fold for e in out.examples} == set(range(1, 11))
    assert_groups_in_one_place(out.examples, lambda e: e.fold)
    infos = [sf.info(e.path) for e in out.examples]
    assert {i.subtype for i in infos} >= {"PCM_U8", "PCM_16", "PCM_24", "FLOAT"}
    assert {i.samplerate for i in infos} >= {8000, 16000, 22050, 44100, 48000}
    assert {i.channels for i in infos} == {1, 2}
    # Formats are cycled per clip, never by class: every class has several formats.
    per_class = defaultdict(set)
    for e, i in zip(out.examples, infos):
        per_class[e.label].add(i.samplerate)
    assert all(len(v) >= 2 for v in per_class.values())


def test_esc50_twin(tiny):
    _, out = tiny["esc50"]
    assert Counter(e.label for e in out.examples) == {c: 3 for c in esc50.CATEGORIES}
    assert {e.fold for e in out.examples} == {1, 2, 3, 4, 5}
    assert_groups_in_one_place(out.examples, lambda e: e.fold)


def test_zebra_finch_twin(tiny):
    root, out = tiny["zebra_finch"]
    assert {e.label for e in out.examples} == {"Distance", "Wsst", "Song", "Nest", "Tet", "Tuck", "Thuk",
                                               "Whine", "Distress", "Begging", "Long Tonal"}
    birds = {e.group for e in out.examples}
    assert len(birds) >= 5 and {e.fold for e in out.examples} == {1, 2, 3, 4, 5}
    assert_groups_in_one_place(out.examples, lambda e: e.fold)
    assert all(e.id.count("/") >= 2 for e in out.examples)  # nested folders
    for e in out.examples:
        i = sf.info(e.path)
        assert (i.samplerate, i.channels, i.subtype) == (44100, 2, "PCM_16")
        # One length for every file: a length that tracks the call type would leak it.
        assert i.frames == round(zebra_finch.CLIP_SECONDS * 44100)


def test_voxceleb1_twin(tiny):
    root, out = tiny["voxceleb1"]
    ids = {e.id: e for e in out.examples}
    assert out.trials and {t.target for t in out.trials} == {True, False}
    trial_speakers = set()
    for t in out.trials:
        assert t.enroll in ids and t.test in ids
        assert t.target == (ids[t.enroll].label == ids[t.test].label)
        trial_speakers |= {ids[t.enroll].label, ids[t.test].label}
    # As in the real iden_split.txt, every speaker is listed there, the verification
    # (id10270...) speakers too, so they have training utterances a verification
    # model must be kept from.
    listed = {f"wav/{line.split()[1]}" for line in (root / "iden_split.txt").read_text().splitlines()}
    assert listed == set(ids)
    assert trial_speakers and all(s >= "id10270" for s in trial_speakers)
    train_speakers = {e.label for e in out.examples if e.split == "train"}
    assert trial_speakers < train_speakers and len(train_speakers - trial_speakers) >= 3
    for spk in train_speakers:  # every speaker has train, dev and test utterances
        assert {e.split for e in out.examples if e.label == spk} == {"train", "dev", "test"}
    assert all(sf.info(e.path).samplerate == 16000 for e in out.examples)


def test_voxceleb1_speakers_are_distinct_voices():
    from benchmark.twins import voxceleb1

    voices = voxceleb1.voices(0, [f"id{10001 + i}" for i in range(40)])
    keys = {(v["variant"], v["pitch"] // 10, v["rate"] // 20) for v in voices.values()}
    assert len(keys) == 40 and len({v["variant"] for v in voices.values()}) >= 8


@pytest.mark.parametrize("name", ["ami", "chime5"])
def test_meeting_twins(tiny, name):
    _, out = tiny[name]
    assert {e.split for e in out.examples} == {"train", "dev", "test"}
    assert_groups_in_one_place(out.examples, lambda e: e.split)
    for e in out.examples:
        info = sf.info(e.path)
        assert info.samplerate == 16000 and info.channels == 1
        start, end = e.uem
        assert 0 <= start < end <= info.duration + 1e-6
        segs = np.array(e.segments)
        assert len(segs) >= 2 and np.all(segs[:, 1] > segs[:, 0]) and np.all(segs[1:, 0] > segs[:-1, 1])
        assert segs[0, 0] >= start - 0.05 and segs[-1, 1] <= end + 1e-6
        speech = float(np.sum(segs[:, 1] - segs[:, 0]))
        assert 0.2 < speech / (end - start) < 0.95  # speech with pauses between


def test_meeting_speakers_vary_in_level(tiny):
    """Sentences sit at levels spread over about 20 dB, not at one loudness."""
    levels = []
    for name in ("ami", "chime5"):
        for e in tiny[name][1].examples:
            x, sr = sf.read(e.path)
            levels += [20 * np.log10(np.sqrt(np.mean(x[int(s * sr):int(t * sr)] ** 2)) + 1e-12)
                       - 20 * np.log10(np.max(np.abs(x))) for s, t in e.segments]
    assert np.ptp(levels) > 14, np.ptp(levels)


def test_musan_twin(tiny):
    root, out = tiny["musan"]
    assert {e.label for e in out.examples} == {"noise", "music", "speech"}
    assert {e.group for e in out.examples if e.label == "noise"} == {"free-sound", "sound-bible"}
    for e in out.examples:
        parts = Path(e.id).parts
        assert parts[:2] == (e.label, e.group) and parts[2].startswith(f"{e.label}-{e.group}-")
        i = sf.info(e.path)
        assert (i.samplerate, i.channels) == (16000, 1) and i.duration >= 2.0
    assert (root / "musan" / "noise" / "free-sound" / "LICENSE").is_file()


def test_musan_adapter_skips_stray_wavs_and_needs_a_category(tiny, tmp_path):
    src, out = tiny["musan"]
    m = shutil.copytree(src, tmp_path / "m")
    shutil.copy(m / "musan" / out.examples[0].id, m / "musan" / "noise" / "stray.wav")
    res = read_dataset("musan", m)
    assert len(res.examples) == len(out.examples)
    assert [s.path for s in res.skips] == ["noise/stray.wav"]
    # Pointing at the folder inside works too; a folder without categories is refused.
    assert len(read_dataset("musan", m / "musan").examples) == len(out.examples)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="musan"):
        read_dataset("musan", tmp_path / "empty")


def test_speech_synthesis_is_deterministic_and_voiced():
    from benchmark.twins import signals, tts

    rng = signals.rng_for(0, "tts-test")
    voices = [tts.make_voice(rng, ("m3",)) | {"pitch": 30}, tts.make_voice(rng, ("f2",)) | {"pitch": 70}]
    reqs = [(v, "so we need a remote control") for v in voices] * 2
    a, b = tts.synthesize(reqs, 16000), tts.synthesize(reqs, 16000)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    low, high = (tts.f0_estimate(tts.trim(x, 16000), 16000) for x in a[:2])
    assert 60 < low < high < 400 and high / low > 1.3, (low, high)
    assert all(0.8 < len(tts.trim(x, 16000)) / 16000 < 4 for x in a)


@pytest.mark.parametrize("name", sorted(twins.TWINS))
def test_deterministic_per_seed(tiny, tmp_path, name):
    root, _ = tiny[name]
    again = files(twins.synth(name, tmp_path / "again", size="tiny", seed=0))
    assert again == files(root)
    other = files(twins.synth(name, tmp_path / "other", size="tiny", seed=1))
    audio = [k for k in again if k.endswith(".wav")]
    assert any(other.get(k) != again[k] for k in audio)


def test_hostile_inputs_become_skips(tiny, tmp_path):
    src, out = tiny["urbansound8k"]
    us = shutil.copytree(src, tmp_path / "us")
    gone = out.examples[4]
    (us / "UrbanSound8K" / gone.id).unlink()
    res = read_dataset("urbansound8k", us)
    assert len(res.examples) == len(out.examples) - 1
    assert [(s.path, "missing" in s.reason) for s in res.skips] == [(gone.id, True)]

    src, out = tiny["zebra_finch"]
    zf = shutil.copytree(src, tmp_path / "zf")
    any_wav = Path(out.examples[0].path).relative_to(src)
    shutil.copy(zf / any_wav, zf / "AdultVocalizations" / "Untitled 3.wav")
    shutil.copy(zf / any_wav, zf / "BlaBla0506_110302-Mystery-04.wav")
    res = read_dataset("zebra_finch", zf)
    assert len(res.examples) == len(out.examples)
    assert sorted(s.path for s in res.skips) == ["AdultVocalizations/Untitled 3.wav",
                                                  "BlaBla0506_110302-Mystery-04.wav"]


def test_synth_refuses_non_empty_and_unknown(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(UserError, match="not empty"):
        twins.synth("esc50", tmp_path / "full")
    with pytest.raises(UserError, match="unknown synthetic twin .librispeech."):
        twins.synth("librispeech", tmp_path / "a")
    with pytest.raises(UserError, match="size"):
        twins.synth("esc50", tmp_path / "b", size="huge")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["full"]  # no temporary folder left


def test_ensure_twin_builds_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path))
    root = twins.ensure_twin("esc50", size="tiny", seed=3)
    assert root == tmp_path / "twins" / "esc50-tiny-seed3"
    stamp = (root / TWIN_MARKER).stat().st_mtime_ns
    assert twins.ensure_twin("esc50", size="tiny", seed=3) == root
    assert (root / TWIN_MARKER).stat().st_mtime_ns == stamp
    # A twin from another generator version is rebuilt.
    monkeypatch.setattr(twins, "GENERATOR_VERSION", twins.GENERATOR_VERSION + 1)
    twins.ensure_twin("esc50", size="tiny", seed=3)
    assert read_json(root / TWIN_MARKER)["generator_version"] == twins.GENERATOR_VERSION


def test_cli_synth(tmp_path, capsys):
    from benchmark.cli import main

    assert main(["synth", "esc50", "--out", str(tmp_path / "e"), "--seed", "2"]) == 0
    assert read_json(tmp_path / "e" / TWIN_MARKER)["seed"] == 2
    line = capsys.readouterr().out.strip()
    assert line.startswith("wrote esc50 twin (tiny, seed 2): 33 files") and str(tmp_path / "e") in line
    assert main(["synth", "esc50", "--out", str(tmp_path / "e")]) == 2


# --- the class evidence is spectro-temporal ---------------------------------------------

def _modulation_spectrum(logmel: np.ndarray) -> np.ndarray:
    """|2-D FFT| of the log-mel at low rates and scales, both temporal-rate signs (sweep direction)."""
    F = np.abs(np.fft.fft2(logmel - logmel.mean()))
    return np.log(np.concatenate([F[:25, :12], F[-24:, :12]]) + 1e-3).ravel()


def _cv_score(features, labels, groups) -> float:
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # A strongly regularised linear classifier: closed form, so the test stays fast.
    clf = make_pipeline(StandardScaler(), RidgeClassifier(alpha=100.0))
    return cross_val_score(clf, features, labels, groups=groups, cv=GroupKFold(n_splits=3)).mean()


def _scores(mels, labels, groups):
    average = np.array([m.mean(axis=0) for m in mels])
    modulation = np.array([_modulation_spectrum(m) for m in mels])
    return [_cv_score(f, labels, groups) for f in (average, modulation)]


def test_urban_classes_need_spectro_temporal_features():
    from benchmark.features import FeatureConfig, compute_logmel
    from benchmark.twins import signals, urbansound8k as u

    sr, mels, labels, groups = 16000, [], [], []
    cfg = FeatureConfig(sample_rate=sr, n_mels=64)
    for c, cls in enumerate(u.CLASSES):
        for i in range(12):
            mels.append(compute_logmel(u.clip(cls, sr, 0.8, signals.rng_for(7, cls, i)), cfg))
            labels.append(c)
            groups.append(i % 3)
    average, modulation = _scores(mels, np.array(labels), groups)
    assert modulation > 0.6 and modulation - average > 0.3, (average, modulation)


def test_bird_calls_need_spectro_temporal_features_in_the_written_files(tmp_path, monkeypatch):
    """The zebra finch twin as written, read by the real adapter and features.

    Clip-averaged log-mel stays near chance, modulation spectra do much better,
    and the file length and where the energy stops (the trace of a zero-padding
    cliff) say nothing about the call type.
    """
    from benchmark.features import FeatureConfig, logmel_file

    monkeypatch.setitem(zebra_finch.SIZES, "tiny", dict(birds=6, per_type=12))
    root = twins.synth("zebra_finch", tmp_path / "zf", size="tiny", seed=7)
    out = read_dataset("zebra_finch", root)
    cfg = FeatureConfig(sample_rate=22050, n_mels=64, fmax=10000.0, clip_seconds=1.0)
    mels = [logmel_file(e.path, cfg) for e in out.examples]
    labels = np.array([e.label for e in out.examples])
    birds = sorted({e.group for e in out.examples})
    groups = [birds.index(e.group) // 2 for e in out.examples]  # folds hold out whole birds
    average, modulation = _scores(mels, labels, groups)
    assert modulation > 0.6 and modulation - average > 0.25, (average, modulation)

    def last_above_floor(m):  # the last frame above the features' -100 dB floor
        loud = np.flatnonzero(m.max(axis=1) > 10 * np.log10(cfg.amin) + 1)
        return loud[-1] if len(loud) else -1

    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    position = np.array([[sf.info(e.path).frames, last_above_floor(m)] for e, m in zip(out.examples, mels)],
                        dtype=float)
    # A tree, since type-dependent lengths need not be linearly separable (on clips of
    # call length plus margins, it scored 0.29 where chance is 0.09).
    tree = DecisionTreeClassifier(max_depth=5, random_state=0)
    score = cross_val_score(tree, position, labels, groups=groups, cv=GroupKFold(n_splits=3)).mean()
    assert score < 1.5 / len(set(labels)), (score, position[:5])


# --- the planted truth --------------------------------------------------------------------

def _planted(root: Path) -> dict:
    return read_json(root / twins.PLANTED)


@pytest.mark.parametrize("name", twins.TWINS)
def test_planted_modulations_file(tiny, name):
    root, out = tiny[name]
    planted = _planted(root)
    assert set(planted) == {"dataset", "note", "classes"} and planted["dataset"] == name
    assert isinstance(planted["note"], str) and planted["note"] and "\n" not in planted["note"]
    if name in ("ami", "chime5"):
        assert set(planted["classes"]) == {"speech"}
    else:
        assert set(planted["classes"]) == {e.label for e in out.examples}
    for entries in planted["classes"].values():
        assert entries
        for m in entries:
            assert set(m) == {"temporal_hz", "spectral_cyc_per_oct", "direction", "what"}
            assert 0 <= m["temporal_hz"] < 60 and 0 <= m["spectral_cyc_per_oct"] < 12
            assert m["direction"] in (-1, 0, 1) and m["what"]


def _envelope(x: np.ndarray, sr: int):
    """Broadband level (dB) per 5 ms frame of the log-mel, and its frame rate."""
    from benchmark.features import FeatureConfig, compute_logmel

    cfg = FeatureConfig(sample_rate=sr, n_mels=32, win_ms=20.0, hop_ms=5.0, fmin=300.0,
                        fmax=min(6000.0, sr / 2))
    m = compute_logmel(x, cfg)
    return 10 * np.log10(np.sum(10 ** (m / 10), axis=1) + 1e-10), cfg.frame_rate_hz


def _modulation_peak_hz(x: np.ndarray, sr: int, lo: float, hi: float) -> float:
    env, rate = _envelope(x, sr)
    env = (env - env.mean()) * np.hanning(len(env))
    spec, freqs = np.abs(np.fft.rfft(env, 8192)), np.fft.rfftfreq(8192, 1 / rate)
    band = (freqs >= lo) & (freqs <= hi)
    return float(freqs[band][np.argmax(spec[band])])


def test_planted_am_rates_match_the_written_urban_files(tiny):
    from benchmark.audio import load_audio

    root, out = tiny["urbansound8k"]
    planted = _planted(root)["classes"]
    checked = 0
    for e in out.examples:
        if e.label in ("drilling", "engine_idling", "jackhammer"):
            peak = _modulation_peak_hz(load_audio(e.path, 16000), 16000, 3, 40)
            # The class value is the mean over its clips, each drawn within +-15 % of it.
            assert abs(peak / planted[e.label][0]["temporal_hz"] - 1) < 0.3, (e.id, peak, planted[e.label])
            checked += 1
    assert checked == 9


def test_planted_repetition_rates_match_the_written_bird_files(tiny):
    from benchmark.audio import load_audio

    root, out = tiny["zebra_finch"]
    planted = _planted(root)["classes"]
    for e in out.examples:
        if e.label in ("Nest", "Begging"):
            peak = _modulation_peak_hz(load_audio(e.path, 22050), 22050, 4, 30)
            assert abs(peak / planted[e.label][0]["temporal_hz"] - 1) < 0.35, (e.id, peak, planted[e.label])


@pytest.mark.parametrize("name", ["ami", "chime5"])
def test_planted_syllabic_rate_matches_the_written_meetings(tiny, name):
    """Syllable nuclei (level peaks) per second of reference speech are near the planted rate."""
    from scipy.signal import butter, find_peaks, sosfiltfilt

    from benchmark.audio import load_audio

    root, out = tiny[name]
    rate = _planted(root)["classes"]["speech"][0]["temporal_hz"]
    assert 3 < rate < 8
    peaks = seconds = 0
    for e in out.examples:
        env, fr = _envelope(load_audio(e.path, 16000), 16000)
        env = sosfiltfilt(butter(2, 10, fs=fr, output="sos"), env)  # keep syllable-rate changes
        for s, t in e.segments:
            peaks += len(find_peaks(env[int(s * fr):int(t * fr)], prominence=2.0)[0])
            seconds += t - s
    assert abs(peaks / seconds / rate - 1) < 0.4, (peaks / seconds, rate)


def test_planted_pitch_matches_the_written_speakers(tiny):
    from benchmark.audio import load_audio
    from benchmark.twins.tts import f0_estimate

    root, out = tiny["voxceleb1"]
    planted = _planted(root)["classes"]
    for spk in planted:
        f0 = 500 * np.log(2) / planted[spk][1]["spectral_cyc_per_oct"]
        x = np.concatenate([load_audio(e.path, 16000) for e in out.examples if e.label == spk])
        assert abs(f0_estimate(x, 16000) / f0 - 1) < 0.2, (spk, f0)
