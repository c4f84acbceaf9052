import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import benchmark.prepare as prep
from benchmark.cli import main as cli_main
from benchmark.data import TWIN_MARKER, AdapterOutput, Example, Skip, Trial
from benchmark.errors import UserError
from benchmark.prepare import prepare, prepared_folder


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _tone(sr, seconds, freq=440.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    return 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(len(t))


def make_dataset(root: Path, *, seed=0, bad=True):
    """Six good files in mixed formats (+ broken ones when ``bad``); returns the fake adapter."""
    (root / "audio").mkdir(parents=True, exist_ok=True)
    good = [("a.wav", 44100, "PCM_16", 2, 0.5), ("b.wav", 8000, "PCM_U8", 1, 0.25),
            ("c.wav", 48000, "FLOAT", 1, 0.3), ("d.flac", 22050, "PCM_24", 2, 0.4),
            ("e.wav", 16000, "DOUBLE", 1, 1.0), ("f.wav", 16000, "PCM_32", 1, 0.2)]
    for i, (fname, sr, subtype, ch, secs) in enumerate(good):
        x = _tone(sr, secs, 300 + 100 * i, seed)
        sf.write(root / "audio" / fname, x if ch == 1 else np.stack([x, x], 1), sr, subtype=subtype)
    names = [g[0] for g in good]
    if bad:
        (root / "audio" / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt garbage" * 10)
        sf.write(root / "audio" / "empty.wav", np.zeros(0), 16000, subtype="PCM_16")
        nan = np.zeros(800, np.float32)
        nan[10] = np.nan
        sf.write(root / "audio" / "nan.wav", nan, 16000, subtype="FLOAT")
        names += ["corrupt.wav", "empty.wav", "nan.wav", "missing.wav"]

    def reader(name, r):
        assert Path(r) == root.resolve()
        exs = [Example(id=f"audio/{n}", path=f"audio/{n}" if i % 2 else str(root / "audio" / n),
                       label="yes" if i % 2 else "no", group=f"g{i % 3}", fold=1 + i % 2)
               for i, n in enumerate(names)]
        if bad:
            exs.append(Example(id="audio/a.wav", path=str(root / "audio" / "a.wav"), label="dup"))
        trials = [Trial("audio/a.wav", "audio/b.wav", True)]
        if bad:
            trials.append(Trial("audio/c.wav", "audio/nan.wav", False))
        skips = [Skip("meta.csv:7", "bad fold 'x'")] if bad else []
        return AdapterOutput(exs, trials, skips, protocol="two folds")

    return reader


def test_missing_root_says_what_to_do(tmp_path):
    with pytest.raises(UserError) as e:
        prepare("urbansound8k", tmp_path / "nope", reader=lambda n, r: None)
    msg = str(e.value)
    assert str(tmp_path / "nope") in msg
    assert "gaborbench download urbansound8k" in msg and "gaborbench synth urbansound8k --out" in msg


def test_default_root_is_the_data_dir(home):
    with pytest.raises(UserError, match=str(home / "data" / "esc50")):
        prepare("esc50", reader=lambda n, r: None)


def test_cli_missing_root_exits_2(tmp_path, capsys):
    assert cli_main(["prepare", "esc50", "--root", str(tmp_path / "nope")]) == 2
    assert "gaborbench download esc50" in capsys.readouterr().err


def test_bad_files_become_skips_with_reasons(tmp_path, capsys):
    root = tmp_path / "ds"
    reader = make_dataset(root)
    p = prepare("toy", root, reader=reader)
    assert p.source == "real" and p.root == str(root.resolve()) and p.protocol == "two folds"
    assert [e.id for e in p.examples] == ["audio/a.wav", "audio/b.wav", "audio/c.wav",
                                      "audio/d.flac", "audio/e.wav", "audio/f.wav"]
    durations = {e.id: e.duration for e in p.examples}
    assert durations["audio/a.wav"] == pytest.approx(0.5)
    assert durations["audio/b.wav"] == pytest.approx(0.25)
    assert durations["audio/d.flac"] == pytest.approx(0.4)

    reasons = {s.path: s.reason for s in p.skips}
    assert reasons["meta.csv:7"] == "bad fold 'x'"  # the adapter's own skips are kept
    assert reasons["audio/corrupt.wav"].startswith("unreadable")
    assert str(root) not in reasons["audio/corrupt.wav"]  # path shortened to the file name
    assert reasons["audio/empty.wav"].startswith("empty")
    assert "NaN or Inf" in reasons["audio/nan.wav"]
    assert reasons["audio/missing.wav"] == "missing on disk"
    assert "duplicate" in reasons["audio/a.wav"]
    assert "audio/nan.wav" in reasons["trial audio/c.wav audio/nan.wav"]
    assert len(p.skips) == 7
    assert p.trials == [Trial("audio/a.wav", "audio/b.wav", True)]

    folder = prepared_folder("toy", root, "real")
    assert folder.name.startswith("real-")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["examples"] == 6 and summary["skipped"] == 7 and summary["trials"] == 1
    assert summary["per_fold"] == {"1": 3, "2": 3} and summary["per_label"] == {"no": 3, "yes": 3}
    assert summary["groups"] == 3
    skips_json = json.loads((folder / "skips.json").read_text())
    assert {s["path"] for s in skips_json} == set(reasons)
    txt = (folder / "skips.txt").read_text()
    assert "audio/nan.wav\tcontains NaN or Inf" in txt
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["checksum"] == p.checksum and len(manifest["examples"]) == 6

    out = capsys.readouterr().out
    assert "6 examples" in out and "skipped 7 input(s)" in out
    assert "audio/empty.wav: empty" in out and str(folder / "skips.txt") in out


def test_summary_lists_only_the_first_skips(tmp_path, capsys, monkeypatch):
    root = tmp_path / "ds"
    reader = make_dataset(root)
    monkeypatch.setattr(prep, "SHOW_SKIPS", 2)
    prepare("toy", root, reader=reader)
    out = capsys.readouterr().out
    assert "skipped 7 input(s), first 2:" in out
    assert "audio/nan.wav" not in out  # listed only in the full report


def test_twin_marker_sets_source(tmp_path):
    root = tmp_path / "twin"
    reader = make_dataset(root, bad=False)
    (root / TWIN_MARKER).write_text(json.dumps({"name": "toy", "seed": 0}))
    p = prepare("toy", root, reader=reader, progress=False)
    assert p.source == "twin" and p.skips == []
    folder = prepared_folder("toy", root, "twin")
    assert json.loads((folder / "summary.json").read_text())["twin"] == {"name": "toy", "seed": 0}


def test_rerun_reuses_manifest_until_a_file_changes(tmp_path, monkeypatch):
    root = tmp_path / "ds"
    reader = make_dataset(root)
    first = prepare("toy", root, reader=reader, progress=False)

    calls = []
    real_check = prep.check_audio
    monkeypatch.setattr(prep, "check_audio", lambda p: calls.append(p) or real_check(p))
    again = prepare("toy", root, reader=reader)
    assert calls == [] and again == first

    sf.write(root / "audio" / "e.wav", _tone(16000, 0.5), 16000, subtype="DOUBLE")  # shorter now
    changed = prepare("toy", root, reader=reader, progress=False)
    assert calls  # decoded again
    assert {e.id: e.duration for e in changed.examples}["audio/e.wav"] == pytest.approx(0.5)
    assert changed.checksum != first.checksum


def test_checksum_follows_content_not_location(tmp_path):
    a = prepare("toy", tmp_path / "a", reader=make_dataset(tmp_path / "a", seed=0, bad=False), progress=False)
    # b holds a byte copy of a's audio: libsndfile stamps float WAVs with the second
    # they were written (PEAK chunk), so writing them again could differ in bytes.
    reader_b = make_dataset(tmp_path / "b", seed=0, bad=False)
    shutil.rmtree(tmp_path / "b" / "audio")
    shutil.copytree(tmp_path / "a" / "audio", tmp_path / "b" / "audio")
    b = prepare("toy", tmp_path / "b", reader=reader_b, progress=False)
    c = prepare("toy", tmp_path / "c", reader=make_dataset(tmp_path / "c", seed=1, bad=False), progress=False)
    # Same ids, labels and durations everywhere; only c's audio differs.
    assert [e.duration for e in a.examples] == [e.duration for e in c.examples]
    assert a.checksum == b.checksum != c.checksum
    assert prepared_folder("toy", tmp_path / "a", "real") != prepared_folder("toy", tmp_path / "b", "real")


def test_no_usable_audio_is_an_error_with_the_report_written(tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "x.wav").write_bytes(b"nope")
    reader = lambda n, r: AdapterOutput([Example(id="x.wav", path="x.wav", label="a")])  # noqa: E731
    with pytest.raises(UserError, match="no usable audio"):
        prepare("toy", root, reader=reader, progress=False)
    folder = prepared_folder("toy", root, "real")
    assert "x.wav\tunreadable" in (folder / "skips.txt").read_text()
    assert not (folder / "listing.json").exists()  # never reused as complete


def _twin_names():
    import importlib.util

    from benchmark.twins import TWINS

    return [n for n in TWINS if importlib.util.find_spec(f"benchmark.twins.{n}") is not None]


@pytest.mark.parametrize("name", _twin_names())
def test_every_tiny_twin_prepares_and_extracts(tmp_path, name, capsys):
    from benchmark.features import FeatureConfig, extract_features
    from benchmark.twins import synth

    root = synth(name, tmp_path / name, size="tiny", seed=0)
    p = prepare(name, root)
    assert p.source == "twin" and p.name == name and p.examples
    assert all(e.duration and e.duration > 0 for e in p.examples)
    assert len({e.id for e in p.examples}) == len(p.examples)
    ids = {e.id for e in p.examples}
    assert all(t.enroll in ids and t.test in ids for t in p.trials)
    folder = prepared_folder(name, root, "twin")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["examples"] == len(p.examples) and summary["skipped"] == len(p.skips)
    assert f"{len(p.examples)} examples" in capsys.readouterr().out

    cfg = FeatureConfig()
    store = extract_features(p, cfg, progress=False)
    assert store.failed == [] and len(store) == len(p.examples)
    for e in p.examples[:5]:
        f = store.get(e.id)
        assert f.shape == (cfg.n_frames(round(e.duration * cfg.sample_rate)), cfg.n_mels)
        assert np.isfinite(f).all() and f.max() > -60  # audible content, not just the floor
