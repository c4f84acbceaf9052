"""Adapters on small hand-written layouts: the real formats, edge cases and bad input.

Adapters never decode audio, so empty files stand in for WAVs here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.adapters import adapter_names, read_dataset
from benchmark.adapters.chime5 import parse_time
from benchmark.adapters.common import merge_segments
from benchmark.adapters.zebra_finch import bird_folds, call_type
from benchmark.errors import UserError


def touch(path: Path, text: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_registry_names_and_errors(tmp_path):
    from benchmark.datasets import dataset_names

    assert adapter_names() == sorted(adapter_names())
    assert set(dataset_names()) | {"musan"} <= set(adapter_names())  # every column, and the noise
    with pytest.raises(UserError, match="did you mean 'voxceleb1'"):
        read_dataset("voxceleb", tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        read_dataset("ami", tmp_path / "nowhere")
    with pytest.raises(UserError, match=r"UrbanSound8K/metadata/UrbanSound8K\.csv"):
        read_dataset("urbansound8k", tmp_path)
    with pytest.raises(UserError, match=r"amicorpus"):
        read_dataset("ami", tmp_path)
    with pytest.raises(UserError, match=r"iden_split\.txt"):
        (tmp_path / "wav").mkdir()
        read_dataset("voxceleb1", tmp_path)
    with pytest.raises(UserError, match=r"no \.wav files"):
        read_dataset("zebra_finch", tmp_path / "wav")


US8K_CSV = """slice_file_name,fsID,start,end,salience,fold,classID,class
100032-3-0-0.wav,100032,0.0,0.317551,1,5,3,dog_bark
100263-2-0-117.wav,100263,58.5,62.5,1,5,2,children_playing
100263-2-0-121.wav,100263,60.5,64.5,1,5,2,children_playing
missing-1-0-0.wav,7,0,1,1,3,1,car_horn
bad-1-0-0.wav,8,0,1,1,eleven,1,car_horn
"""


def test_urbansound8k(tmp_path):
    base = tmp_path / "UrbanSound8K"
    touch(base / "metadata" / "UrbanSound8K.csv", US8K_CSV)
    for name in ("100032-3-0-0.wav", "100263-2-0-117.wav", "100263-2-0-121.wav", "extra-0-0-0.wav"):
        touch(base / "audio" / "fold5" / name)
    out = read_dataset("urbansound8k", tmp_path)
    assert [e.id for e in out.examples] == ["audio/fold5/100032-3-0-0.wav", "audio/fold5/100263-2-0-117.wav",
                                            "audio/fold5/100263-2-0-121.wav"]
    e = out.examples[1]
    assert (e.label, e.group, e.fold, e.split) == ("children_playing", "100263", 5, None)
    assert Path(e.path).is_absolute() and Path(e.path).is_file()
    reasons = {s.path: s.reason for s in out.skips}
    assert "missing on disk" in reasons["audio/fold3/missing-1-0-0.wav"]
    assert "bad fold" in reasons["metadata/UrbanSound8K.csv:6"]
    assert "not listed" in reasons["audio/fold5/extra-0-0-0.wav"]
    # Pointing at the dataset folder itself gives the same ids.
    assert [x.id for x in read_dataset("urbansound8k", base).examples] == [x.id for x in out.examples]
    (base / "metadata" / "UrbanSound8K.csv").write_text("slice_file_name,fold\n")
    with pytest.raises(UserError, match="lacks column"):
        read_dataset("urbansound8k", tmp_path)


def test_esc50(tmp_path):
    base = tmp_path / "ESC-50-master"
    touch(base / "meta" / "esc50.csv", "filename,fold,target,category,esc10,src_file,take\n"
          "1-100032-A-0.wav,1,0,dog,True,100032,A\n5-9032-A-0.wav,5,0,dog,True,9032,A\n")
    touch(base / "audio" / "1-100032-A-0.wav")
    out = read_dataset("esc50", tmp_path)
    assert [(e.id, e.label, e.group, e.fold) for e in out.examples] == [
        ("audio/1-100032-A-0.wav", "dog", "100032", 1)]
    assert [s.path for s in out.skips] == ["audio/5-9032-A-0.wav"]


def test_zebra_finch_names():
    assert call_type("BlaBla0506_110302-AggC-04.wav") == ("BlaBla0506", "Wsst")
    assert call_type("HPiHPi4748_110616-NekakleC-1.wav") == ("HPiHPi4748", "Nest")
    assert call_type("X_110616-NeKakleC-1.wav") == ("X", "Nest")
    assert call_type("GreOra1817_110504-beggseq-12.WAV") == ("GreOra1817", "Begging")
    assert call_type("a_110504-LTC-1.wav")[1] == "Long Tonal"
    assert "unknown call code" in call_type("a_110504-Xyz-1.wav")
    assert "does not match" in call_type("a-110504-DC-1.wav")
    assert "does not match" in call_type("a_1105-DC-1.wav")


def test_bird_folds_balanced_and_deterministic():
    counts = {"a": 10, "b": 9, "c": 5, "d": 5, "e": 4, "f": 1, "g": 1}
    folds = bird_folds(counts, 3)
    assert folds == bird_folds(dict(reversed(list(counts.items()))), 3)
    load = {k: sum(c for b, c in counts.items() if folds[b] == k) for k in (1, 2, 3)}
    # Greedy by size: a, b, c open the folds; each next bird joins the lightest fold.
    assert load == {1: 11, 2: 13, 3: 11}
    assert folds == {"a": 1, "b": 2, "c": 3, "d": 3, "e": 2, "f": 1, "g": 3}


def test_zebra_finch(tmp_path):
    names = [f"Bird{b}_1103{b}2-{code}-0{i}.wav" for b in range(1, 7) for i, code in
             enumerate(("DC", "Te", "So"), start=1)]
    for i, n in enumerate(names):
        touch(tmp_path / ("AdultVocalizations" if i % 2 else "Chicks/deep") / n)
    touch(tmp_path / "AdultVocalizations" / "Bird1 copy.wav")
    touch(tmp_path / "__MACOSX" / "._Bird1_110312-DC-01.wav")
    touch(tmp_path / "notes.txt")
    out = read_dataset("zebra_finch", tmp_path)
    assert len(out.examples) == 18
    assert {e.label for e in out.examples} == {"Distance", "Tet", "Song"}
    assert {s.path for s in out.skips} == {"AdultVocalizations/Bird1 copy.wav",
                                           "__MACOSX/._Bird1_110312-DC-01.wav"}
    fold_of = {}
    for e in out.examples:
        assert fold_of.setdefault(e.group, e.fold) == e.fold
    assert sorted(set(fold_of.values())) == [1, 2, 3, 4, 5]
    assert "5-fold" in out.protocol
    again = read_dataset("zebra_finch", tmp_path, folds=3)
    assert {e.fold for e in again.examples} == {1, 2, 3} and "3-fold" in again.protocol


def test_voxceleb1(tmp_path):
    for rel in ("id10001/vid1/00001.wav", "id10001/vid2/00001.wav", "id10002/vid3/00001.wav",
                "id10270/a/00001.wav", "id10270/b/00002.wav", "id10271/c/00001.wav"):
        touch(tmp_path / "wav" / rel)
    touch(tmp_path / "iden_split.txt", "1 id10001/vid1/00001.wav\n3 id10001/vid2/00001.wav\n"
          "2 id10002/vid3/00001.wav\n1 id10002/gone/00001.wav\n7 id10002/vid3/00001.wav\n")
    touch(tmp_path / "meta" / "veri_test2.txt", "1 id10270/a/00001.wav id10270/b/00002.wav\n"
          "0 id10270/a/00001.wav id10271/c/00001.wav\n1 id10271/c/00001.wav id10271/x/00009.wav\n")
    out = read_dataset("voxceleb1", tmp_path)
    by_id = {e.id: e for e in out.examples}
    assert by_id["wav/id10001/vid2/00001.wav"].split == "test"
    assert by_id["wav/id10002/vid3/00001.wav"].split == "dev"
    assert (by_id["wav/id10270/b/00002.wav"].split, by_id["wav/id10270/b/00002.wav"].label) == ("test", "id10270")
    assert len(by_id) == 6
    assert [(t.enroll, t.test, t.target) for t in out.trials] == [
        ("wav/id10270/a/00001.wav", "wav/id10270/b/00002.wav", True),
        ("wav/id10270/a/00001.wav", "wav/id10271/c/00001.wav", False)]
    reasons = [s.reason for s in out.skips]
    assert sum("missing on disk" in r for r in reasons) == 2
    assert any("expected '<1|2|3>" in r for r in reasons)
    assert any("unusable utterance" in r for r in reasons)


def test_merge_segments():
    assert merge_segments([(3, 4), (0, 1), (0.5, 2), (2, 2.5), (5, 5)]) == ((0.0, 2.5), (3.0, 4.0))


def test_ami(tmp_path):
    for split, meetings in {"train": ["ES2002a", "ES2002b"], "dev": ["IS1008a"], "test": ["TS3003a"]}.items():
        touch(tmp_path / "lists" / f"{split}.meetings.txt", "\n".join(meetings) + "\n")
        for m in meetings:
            if m != "ES2002b":
                touch(tmp_path / "amicorpus" / m / "audio" / f"{m}.Mix-Headset.wav")
            touch(tmp_path / "rttms" / split / f"{m}.rttm",
                  f"SPEAKER {m} 1 1.00 2.00 <NA> <NA> A <NA> <NA>\n"
                  f"SPEAKER {m} 1 2.50 1.00 <NA> <NA> B <NA> <NA>\n"
                  f"SPEAKER {m} 1 5.00 0.50 <NA> <NA> A <NA> <NA>\n")
            if m != "TS3003a":
                touch(tmp_path / "uems" / split / f"{m}.uem", f"{m} 1 0.500 9.000\n")
    out = read_dataset("ami", tmp_path)
    assert [(e.id, e.split, e.group) for e in out.examples] == [
        ("amicorpus/ES2002a/audio/ES2002a.Mix-Headset.wav", "train", "ES2002a"),
        ("amicorpus/IS1008a/audio/IS1008a.Mix-Headset.wav", "dev", "IS1008a")]
    assert out.examples[0].segments == ((1.0, 3.5), (5.0, 5.5))
    assert out.examples[0].uem == (0.5, 9.0)
    assert {s.path: s.reason for s in out.skips} == {
        "amicorpus/ES2002b/audio/ES2002b.Mix-Headset.wav": "missing amicorpus/ES2002b/audio/ES2002b.Mix-Headset.wav",
        "amicorpus/TS3003a/audio/TS3003a.Mix-Headset.wav": "missing uems/test/TS3003a.uem"}


def test_chime5_times():
    assert parse_time("0:01:02.35") == pytest.approx(62.35)
    assert parse_time("1:00:00.00") == 3600.0
    assert parse_time(12.5) == 12.5
    with pytest.raises(ValueError):
        parse_time("soon")


def test_chime5(tmp_path):
    base = tmp_path / "CHiME5"

    def utt(s, e, u01=True):
        d = {"start_time": {"original": s}, "end_time": {"original": e}, "speaker": "P05", "words": "hi"}
        if u01:
            d["start_time"]["U01"], d["end_time"]["U01"] = f"{s[:-1]}9", f"{e[:-1]}9"
        return d

    touch(base / "transcriptions" / "eval" / "S01.json", json.dumps(
        [utt("0:00:01.00", "0:00:03.00"), utt("0:00:02.50", "0:00:04.00", u01=False),
         utt("0:00:10.00", "0:00:11.00"), {"words": "no times"}]))
    touch(base / "transcriptions" / "dev" / "S02.json", "[]")
    touch(base / "transcriptions" / "train" / "S03.json", "[]")
    touch(base / "audio" / "eval" / "S01_U01.CH1.wav")
    touch(base / "audio" / "dev" / "S02_U01.CH1.wav")
    out = read_dataset("chime5", tmp_path)
    (e,) = out.examples
    assert (e.id, e.split, e.group) == ("audio/eval/S01_U01.CH1.wav", "test", "S01")
    assert e.segments == ((1.09, 4.0), (10.09, 11.09))  # U01 times, else original
    assert e.uem == (1.09, 11.09)
    reasons = {s.path: s.reason for s in out.skips}
    assert "without usable times" in reasons["transcriptions/eval/S01.json#3"]
    assert "no usable utterance" in reasons["audio/dev/S02_U01.CH1.wav"]
    assert "no U01 channel 1 audio" in reasons["audio/train/S03_U01.CH1.wav"]
