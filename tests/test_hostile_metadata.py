"""Hostile metadata and hand-made dataset folders: rows that point outside the
dataset, symbolic links, byte-order marks, latin-1 bytes, short rows, huge
fields, over-long names, NaN and Inf reference times, non-UTF-8 lists and file
names, and trial speakers hidden in the identification split. A bad line costs
that line (a Skip naming file and line), never the dataset, and no file from
outside the dataset folder ever reaches a manifest."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmark.adapters import read_dataset
from benchmark.data import AdapterOutput, Example, Trial
from benchmark.errors import UserError

US8K_HEAD = "slice_file_name,fsID,start,end,salience,fold,classID,class\n"
GOOD_ROWS = ("100032-3-0-0.wav,100032,0.0,0.3,1,5,3,dog_bark\n"
             "100263-2-0-117.wav,100263,58.5,62.5,1,5,2,children_playing\n")
OUTSIDE = "path outside the dataset"


def touch(path: Path, data: bytes | str = b"") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))


def _us8k(tmp_path: Path, extra: bytes, *, head: bytes = US8K_HEAD.encode()) -> Path:
    base = tmp_path / "ds" / "UrbanSound8K"
    touch(base / "metadata" / "UrbanSound8K.csv", head + GOOD_ROWS.encode() + extra)
    for name in ("100032-3-0-0.wav", "100263-2-0-117.wav"):
        touch(base / "audio" / "fold5" / name)
    return tmp_path / "ds"


def _secret(tmp_path: Path) -> Path:
    return touch(tmp_path / "outside.wav", b"RIFF secret")


GOOD_IDS = ["audio/fold5/100032-3-0-0.wav", "audio/fold5/100263-2-0-117.wav"]


# -------------------------------------------------- paths outside the dataset

@pytest.mark.parametrize("name", ["../../../../outside.wav", "{abs}"])
def test_csv_row_pointing_outside_the_dataset_is_skipped(tmp_path, name):
    secret = _secret(tmp_path)
    name = name.format(abs=secret)
    root = _us8k(tmp_path, f"{name},1,0,1,1,5,3,dog_bark\n".encode())
    out = read_dataset("urbansound8k", root)
    assert [e.id for e in out.examples] == GOOD_IDS
    assert all(Path(e.path).resolve() != secret for e in out.examples)
    assert [s.reason.split(":")[0] for s in out.skips] == [OUTSIDE]
    assert out.skips[0].path == "metadata/UrbanSound8K.csv:4"


def test_symlink_to_a_file_outside_is_skipped(tmp_path):
    secret = _secret(tmp_path)
    root = _us8k(tmp_path, b"link-1-0-0.wav,1,0,1,1,5,3,dog_bark\n")
    os.symlink(secret, root / "UrbanSound8K/audio/fold5/link-1-0-0.wav")
    out = read_dataset("urbansound8k", root)
    assert [e.id for e in out.examples] == GOOD_IDS
    assert [s.reason.split(":")[0] for s in out.skips] == [OUTSIDE]


def test_zebra_finch_symlink_outside_is_skipped(tmp_path):
    secret = _secret(tmp_path)
    root = tmp_path / "finch"
    for bird in ("A1", "B2"):
        touch(root / f"{bird}_110101-DC-01.wav")
    os.symlink(secret, root / "C3_110101-DC-01.wav")
    out = read_dataset("zebra_finch", root)
    assert sorted(e.group for e in out.examples) == ["A1", "B2"]
    assert [(s.path, s.reason) for s in out.skips] == [("C3_110101-DC-01.wav", OUTSIDE)]


def test_ami_wav_symlinked_outside_is_skipped(tmp_path):
    secret = _secret(tmp_path)
    root = _ami(tmp_path)
    wav = root / "amicorpus/IS1000b/audio/IS1000b.Mix-Headset.wav"
    wav.unlink()
    os.symlink(secret, wav)
    out = read_dataset("ami", root)
    assert [e.group for e in out.examples] == ["IS1000a"]
    assert [s.reason.split(":")[0] for s in out.skips] == [OUTSIDE]


def test_voxceleb_utterance_symlinked_outside_is_skipped(tmp_path):
    secret = _secret(tmp_path)
    root = _vox(tmp_path)
    (root / "wav/id10001/v1/00002.wav").unlink()
    os.symlink(secret, root / "wav/id10001/v1/00002.wav")
    out = read_dataset("voxceleb1", root)
    assert "wav/id10001/v1/00002.wav" not in {e.id for e in out.examples}
    assert any(s.reason.startswith(OUTSIDE) for s in out.skips)


def test_prepare_refuses_a_reader_path_outside_the_root(tmp_path):
    from benchmark.prepare import prepare

    root = tmp_path / "ds"
    x = 0.1 * np.sin(np.arange(1600) / 5.0)
    sf.write(touch(root / "a.wav"), x, 16000)
    sf.write(tmp_path / "outside.wav", x, 16000)  # decodable: only the path check stops it
    reader = lambda n, r: AdapterOutput([  # noqa: E731
        Example(id="a.wav", path="a.wav", label="x", fold=1),
        Example(id="evil", path=str(tmp_path / "outside.wav"), label="x", fold=1),
        Example(id="up", path="../outside.wav", label="x", fold=1)])
    prepared = prepare("toy", root, reader=reader, progress=False)
    assert [e.id for e in prepared.examples] == ["a.wav"]
    assert {(s.path, s.reason) for s in prepared.skips} == {("evil", OUTSIDE), ("up", OUTSIDE)}


# ---------------------------------------------------------- malformed CSVs

def test_csv_with_a_byte_order_mark_is_read(tmp_path):
    out = read_dataset("urbansound8k", _us8k(tmp_path, b"", head=b"\xef\xbb\xbf" + US8K_HEAD.encode()))
    assert [e.id for e in out.examples] == GOOD_IDS


@pytest.mark.parametrize("row,reason", [
    ("caf\xe9-1-0-0.wav,1,0,1,1,5,3,dog_bark\n".encode("latin-1"), "not UTF-8 text"),
    (b"x.wav," + b"9" * 200_000 + b",0,1,1,5,3,dog_bark\n", "unparseable CSV line: field larger than"),
    (("n" * 300 + ".wav,1,0,1,1,5,3,dog_bark\n").encode(), "file name too long"),
])
def test_one_bad_csv_row_is_skipped_and_the_rest_kept(tmp_path, row, reason):
    out = read_dataset("urbansound8k", _us8k(tmp_path, row + b"100263-2-0-121.wav,100263,1,2,1,5,2,x\n"))
    assert [e.id for e in out.examples] == GOOD_IDS
    bad = [s for s in out.skips if s.path == "metadata/UrbanSound8K.csv:4"]
    assert len(bad) == 1 and bad[0].reason.startswith(reason), out.skips
    assert len(bad[0].reason) < 200


def test_unclosed_quote_costs_one_row_not_the_file(tmp_path):
    # csv would read on to the end of the file looking for the closing quote
    root = _us8k(tmp_path, b'"bad.wav,1,0,1,1,5,3,dog_bark\n100263-2-0-121.wav,100263,1,2,1,5,2,x\n')
    touch(root / "UrbanSound8K/audio/fold5/100263-2-0-121.wav")
    out = read_dataset("urbansound8k", root)
    assert [e.id for e in out.examples] == GOOD_IDS + ["audio/fold5/100263-2-0-121.wav"]
    assert [s.path for s in out.skips] == ["metadata/UrbanSound8K.csv:4"]


def test_esc50_short_row_is_skipped(tmp_path):
    base = tmp_path / "ESC-50-master"
    touch(base / "meta/esc50.csv", b"filename,fold,target,category,esc10,src_file,take\n"
          b"1-100032-A-0.wav,1,0,dog,True,100032,A\n1-2-A-0.wav,1,0,dog\n")
    touch(base / "audio/1-100032-A-0.wav")
    touch(base / "audio/1-2-A-0.wav")
    out = read_dataset("esc50", tmp_path)
    assert [e.id for e in out.examples] == ["audio/1-100032-A-0.wav"]
    assert ("meta/esc50.csv:3", "row has 4 fields, the header 7") in {(s.path, s.reason) for s in out.skips}


# ------------------------------------------------------ AMI and CHiME-5 times

def _ami(tmp_path: Path, rttm_b: str = "SPEAKER IS1000b 1 1.0 2.0 <NA> <NA> B <NA> <NA>\n",
         uem_b: str = "IS1000b 1 0.0 10.0\n", listing: bytes = b"IS1000a\nIS1000b\n") -> Path:
    root = tmp_path / "ami"
    touch(root / "lists/train.meetings.txt", listing)
    touch(root / "lists/dev.meetings.txt")
    touch(root / "lists/test.meetings.txt")
    for m, rttm, uem in (("IS1000a", "SPEAKER IS1000a 1 0.5 1.0 <NA> <NA> A <NA> <NA>\n", "IS1000a 1 0 10\n"),
                         ("IS1000b", rttm_b, uem_b)):
        touch(root / f"amicorpus/{m}/audio/{m}.Mix-Headset.wav")
        touch(root / f"rttms/train/{m}.rttm", rttm if isinstance(rttm, bytes) else rttm.encode())
        touch(root / f"uems/train/{m}.uem", uem)
    return root


@pytest.mark.parametrize("rttm,uem,where", [
    ("SPEAKER IS1000b 1 1.0 2.0 <NA> <NA> B <NA> <NA>\nSPEAKER IS1000b 1 nan 2.0 <NA> <NA> B <NA> <NA>\n",
     "IS1000b 1 0.0 10.0\n", "IS1000b.rttm:2"),
    ("SPEAKER IS1000b 1 1.0 inf <NA> <NA> B <NA> <NA>\n", "IS1000b 1 0.0 10.0\n", "IS1000b.rttm:1"),
    ("SPEAKER IS1000b 1 1.0 2.0 <NA> <NA> B <NA> <NA>\n", "IS1000b 1 0.0 NaN\n", "IS1000b.uem:1"),
    ("SPEAKER IS1000b 1 -5 2.0 <NA> <NA> B <NA> <NA>\n", "IS1000b 1 0.0 10.0\n", "IS1000b.rttm:1"),
    (b"SPEAKER IS1000b 1 1.0 2.0 <NA> <NA> Jos\xe9 <NA> <NA>\n", "IS1000b 1 0.0 10.0\n", "IS1000b.rttm:1"),
])
def test_ami_bad_reference_line_skips_that_meeting_only(tmp_path, rttm, uem, where):
    out = read_dataset("ami", _ami(tmp_path, rttm, uem))
    assert [e.group for e in out.examples] == ["IS1000a"]
    assert len(out.skips) == 1 and f"train/{where}" in out.skips[0].reason, out.skips


def test_ami_meeting_list_with_latin1_and_dotdot(tmp_path):
    out = read_dataset("ami", _ami(tmp_path, listing=b"IS1000a\n\xe9t\xe9\n../../etc\nIS1000b\n"))
    assert [e.group for e in out.examples] == ["IS1000a", "IS1000b"]
    assert [(s.path, s.reason) for s in out.skips] == [
        ("lists/train.meetings.txt:2", "not UTF-8 text"),
        ("lists/train.meetings.txt:3", "bad meeting name '../../etc'")]


def _chime(tmp_path: Path, utts_s01: bytes) -> Path:
    base = tmp_path / "CHiME5"
    good = [{"start_time": {"original": "0:00:01.00"}, "end_time": {"original": "0:00:02.00"}}]
    touch(base / "transcriptions/train/S02.json", json.dumps(good))
    touch(base / "transcriptions/train/S01.json", utts_s01)
    for s in ("S01", "S02"):
        touch(base / f"audio/train/{s}_U01.CH1.wav")
    return tmp_path


def test_chime5_nan_and_inf_times_skip_the_utterance(tmp_path):
    utts = (b'[{"start_time": {"U01": NaN}, "end_time": {"U01": 3.0}},'
            b' {"start_time": {"original": 1.0}, "end_time": {"original": Infinity}},'
            b' {"start_time": {"original": "0:00:04.00"}, "end_time": {"original": "0:00:05.00"}}]')
    out = read_dataset("chime5", _chime(tmp_path, utts))
    s01 = next(e for e in out.examples if e.group == "S01")
    assert s01.segments == ((4.0, 5.0),) and s01.uem == (4.0, 5.0)
    assert sorted(s.path for s in out.skips) == ["transcriptions/train/S01.json#0",
                                                 "transcriptions/train/S01.json#1"]


def test_chime5_deeply_nested_json_is_a_skip(tmp_path):
    out = read_dataset("chime5", _chime(tmp_path, b"[" * 100_000 + b"]" * 100_000))
    assert [e.group for e in out.examples] == ["S02"]
    assert [s.path for s in out.skips] == ["transcriptions/train/S01.json"]


def test_chime5_bom_is_read_and_latin1_names_the_line(tmp_path):
    utts = [{"start_time": {"original": 1.0}, "end_time": {"original": 2.0}}]
    out = read_dataset("chime5", _chime(tmp_path, b"\xef\xbb\xbf" + json.dumps(utts).encode()))
    assert sorted(e.group for e in out.examples) == ["S01", "S02"]
    out = read_dataset("chime5", _chime(tmp_path / "b", b'[\n{"words": "caf\xe9"}]'))
    assert [(s.path, s.reason) for s in out.skips] == [
        ("transcriptions/train/S01.json", "unreadable transcription: line 2: not UTF-8 text")]


# ----------------------------------------------------------------- VoxCeleb1

def _vox(tmp_path: Path, iden: bytes | None = None) -> Path:
    root = tmp_path / "vox"
    utts = ["id10001/v1/00001.wav", "id10001/v1/00002.wav", "id10002/v2/00001.wav",
            "id10270/a/00001.wav", "id10270/b/00002.wav", "id10271/c/00001.wav", "id10271/c/00002.wav"]
    for u in utts:
        touch(root / "wav" / u)
    # as in the real file: the verification speakers (id10270, id10271) are in iden_split too,
    # some of their utterances in its train split
    touch(root / "iden_split.txt", iden if iden is not None else
          b"1 id10001/v1/00001.wav\n3 id10001/v1/00002.wav\n2 id10002/v2/00001.wav\n"
          b"1 id10270/a/00001.wav\n3 id10270/b/00002.wav\n1 id10271/c/00001.wav\n1 id10271/c/00002.wav\n")
    touch(root / "veri_test2.txt", "1 id10270/a/00001.wav id10270/b/00002.wav\n"
                                   "0 id10270/b/00002.wav id10271/c/00001.wav\n")
    return root


def test_voxceleb_trial_speakers_are_known_and_can_be_excluded(tmp_path):
    from benchmark.adapters.voxceleb1 import verification_speakers

    out = read_dataset("voxceleb1", _vox(tmp_path))
    trial_spk = verification_speakers(out.trials, out.examples)
    assert trial_spk == {"id10270", "id10271"}
    assert all(e.group == e.id.split("/")[1] for e in out.examples)
    # iden_split puts trial speakers in train; the verification training set drops them
    assert {e.group for e in out.examples if e.split == "train"} >= trial_spk
    verif_train = [e for e in out.examples if e.split == "train" and e.group not in trial_spk]
    assert [e.id for e in verif_train] == ["wav/id10001/v1/00001.wav"]
    assert "trials on 2 speakers (2 of them also in iden_split, 2 in its train split)" in out.protocol
    assert "verification_speakers" in out.protocol


def test_verification_speakers_refuses_a_trial_outside_the_listing(tmp_path):
    from benchmark.adapters.voxceleb1 import verification_speakers

    out = read_dataset("voxceleb1", _vox(tmp_path))
    ghost = Trial("wav/id10270/a/00001.wav", "wav/id10999/z/00001.wav", False)
    with pytest.raises(UserError, match="id10999/z/00001.wav, which is not in the dataset listing"):
        verification_speakers(out.trials + [ghost], out.examples)


def test_voxceleb_non_utf8_list_line_is_skipped(tmp_path):
    iden = b"1 id10001/v1/00001.wav\n1 id10001/v1/0000\xff.wav\n2 id10002/v2/00001.wav\n"
    out = read_dataset("voxceleb1", _vox(tmp_path, iden))
    assert {"wav/id10001/v1/00001.wav", "wav/id10002/v2/00001.wav"} <= {e.id for e in out.examples}
    assert ("iden_split.txt:2", "not UTF-8 text") in {(s.path, s.reason) for s in out.skips}


# ------------------------------------------------------------- preparation

def test_prepare_survives_non_utf8_file_names_and_nan_references(tmp_path):
    from benchmark.prepare import prepare, prepared_folder

    root = tmp_path / "finch"
    x = 0.1 * np.sin(np.arange(800) / 3.0)
    for bird in ("A1", "B2"):
        sf.write(touch(root / f"{bird}_110101-DC-01.wav"), x, 16000)
    sf.write(root / "C3.wav", x, 16000)
    os.rename(os.fsencode(root / "C3.wav"), os.fsencode(root) + b"/C3_110101-D\xe9C-01.wav")
    prepared = prepare("zebra_finch", root, progress=False)
    assert sorted(e.group for e in prepared.examples) == ["A1", "B2"]
    text = (prepared_folder("zebra_finch", root, "real") / "skips.txt").read_text(encoding="utf-8")
    assert "not valid UTF-8" in text
    # a reader (or older adapter) handing over NaN times: the example is skipped, not a crash
    reader = lambda n, r: AdapterOutput([  # noqa: E731
        Example(id="a", path=str(root / "A1_110101-DC-01.wav"), split="train", segments=((0.0, 0.01),),
                uem=(0.0, 0.05)),
        Example(id="b", path=str(root / "B2_110101-DC-01.wav"), split="train",
                segments=((float("nan"), 0.01),), uem=(0.0, 0.05))])
    prepared = prepare("toy_sad", root, reader=reader, progress=False)
    assert [e.id for e in prepared.examples] == ["a"]
    assert prepared.skips[0].reason.startswith("non-finite or negative time")


# -------------------------------------------------------------------- audio

def test_header_only_wav_is_empty_audio_even_when_padding(tmp_path):
    from benchmark.audio import AudioError, load_audio

    path = tmp_path / "header.wav"
    sf.write(path, np.zeros(0), 16000, subtype="PCM_16")
    with pytest.raises(AudioError, match="empty audio"):
        load_audio(path, 16000, duration=1.0)
    # a header that claims samples the file does not hold
    claimed = tmp_path / "claims.wav"
    sf.write(claimed, np.zeros(1600), 16000, subtype="PCM_16")
    claimed.write_bytes(claimed.read_bytes()[:44])
    with pytest.raises(AudioError, match="empty audio"):
        load_audio(claimed, 16000, duration=1.0)
