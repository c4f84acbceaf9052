"""Synthetic twins, read back through the real adapters."""

from __future__ import annotations

import shutil
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark import twins
from benchmark.twins import esc50
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


def test_voxceleb1_twin(tiny):
    _, out = tiny["voxceleb1"]
    ids = {e.id: e for e in out.examples}
    assert out.trials and {t.target for t in out.trials} == {True, False}
    trial_speakers = set()
    for t in out.trials:
        assert t.enroll in ids and t.test in ids
        assert t.target == (ids[t.enroll].label == ids[t.test].label)
        trial_speakers |= {ids[t.enroll].label, ids[t.test].label}
    train_speakers = {e.label for e in out.examples if e.split == "train"}
    assert len(train_speakers) >= 3 and not trial_speakers & train_speakers
    # Every identification speaker has train, dev and test utterances.
    for spk in train_speakers:
        assert {e.split for e in out.examples if e.label == spk} == {"train", "dev", "test"}
    assert all(sf.info(e.path).samplerate == 16000 for e in out.examples)


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


@pytest.mark.parametrize("name", ["urbansound8k", "zebra_finch", "voxceleb1", "chime5"])
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
    with pytest.raises(UserError, match="no synthetic twin"):
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
    assert line.startswith("wrote esc50 twin (tiny, seed 2): 32 files") and str(tmp_path / "e") in line
    assert main(["synth", "esc50", "--out", str(tmp_path / "e")]) == 2


# --- the class evidence is spectro-temporal ---------------------------------------------

def _logmel(x: np.ndarray, sr: int) -> np.ndarray:
    try:
        from benchmark.features import FeatureConfig, compute_logmel
    except ImportError:  # pragma: no cover - features are another module's job
        import librosa

        m = librosa.feature.melspectrogram(y=x, sr=sr, n_fft=512, win_length=int(0.025 * sr),
                                           hop_length=int(0.01 * sr), n_mels=64)
        return np.log(m + 1e-10).T
    return compute_logmel(x, FeatureConfig(sample_rate=sr, n_mels=64))


def _modulation_spectrum(logmel: np.ndarray) -> np.ndarray:
    """|2-D FFT| of the log-mel at low rates and scales, both temporal-rate signs (sweep direction)."""
    F = np.abs(np.fft.fft2(logmel - logmel.mean()))
    return np.log(np.concatenate([F[:25, :12], F[-24:, :12]]) + 1e-3).ravel()


def _scores(clips, labels, groups, sr):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    mels = [_logmel(x.astype(np.float32), sr) for x in clips]
    average = np.array([m.mean(axis=0) for m in mels])
    modulation = np.array([_modulation_spectrum(m) for m in mels])
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
    cv = GroupKFold(n_splits=3)
    return [cross_val_score(clf, f, labels, groups=groups, cv=cv).mean() for f in (average, modulation)]


def test_urban_classes_need_spectro_temporal_features():
    from benchmark.twins import signals, urbansound8k as u

    sr, clips, labels, groups = 16000, [], [], []
    for c, cls in enumerate(u.CLASSES):
        for i in range(12):
            clips.append(u.clip(cls, sr, 0.8, signals.rng_for(7, cls, i)))
            labels.append(c)
            groups.append(i % 3)
    average, modulation = _scores(clips, np.array(labels), groups, sr)
    assert modulation > 0.6 and modulation - average > 0.3, (average, modulation)


def test_bird_calls_need_spectro_temporal_features():
    from benchmark.twins import signals, zebra_finch as z

    sr, clips, labels, groups = 22050, [], [], []
    birds = [z.make_bird(signals.rng_for(7, "bird", b)) for b in range(6)]
    for c, call in enumerate(z.CODES):
        for i in range(12):
            clips.append(z.call(call, birds[i % 6], sr, 0.5, signals.rng_for(7, call, i)))
            labels.append(c)
            groups.append((i % 6) // 2)  # folds hold out whole birds
    average, modulation = _scores(clips, np.array(labels), groups, sr)
    assert modulation > 0.7 and modulation - average > 0.3, (average, modulation)
