"""The dataset adapters and ``prepare`` on real recordings laid out as each dataset ships."""

from collections import Counter

import numpy as np
import pytest

from benchmark.adapters import read_dataset
from benchmark.adapters.common import merge_segments
from benchmark.prepare import prepare
from tests._real_data import REAL, ami_layout, esc50_layout, voxceleb_layout, zebra_finch_layout


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GABORBENCH_HOME", str(tmp_path / "home"))


def test_ami_excerpts_in_the_ami_layout(tmp_path):
    root = ami_layout(tmp_path / "ami")
    assert (root / "amicorpus" / "trñ00" / "audio" / "trñ00.Mix-Headset.wav").is_file()
    out = read_dataset("ami", root)
    assert out.skips == []
    assert Counter(e.split for e in out.examples) == {"train": 10, "dev": 2, "test": 2}
    by_id = {e.group: e for e in out.examples}
    assert len(by_id) == 14 and "trñ00" in by_id
    # Speech = union of the speaker turns the source's RTTM gives (as "trn00" for "trñ00").
    turns = []
    for line in (REAL / "ami" / "debug.train.rttm").read_text(encoding="utf-8").splitlines():
        f = line.split()
        if f[1] == "trn00":
            turns.append((float(f[3]), float(f[3]) + float(f[4])))
    assert len(turns) == 14
    assert by_id["trñ00"].segments == merge_segments(turns)
    assert all(e.uem == (0.0, 30.0) for e in out.examples)
    speech = sum(b - a for e in out.examples for a, b in e.segments)
    assert speech / (14 * 30.0) == pytest.approx(0.61, abs=0.01)

    prepared = prepare("ami", root, progress=False)
    assert prepared.source == "real" and len(prepared.examples) == 14 and prepared.skips == []


def test_voxceleb_tree_from_librispeech_readers(tmp_path):
    want = voxceleb_layout(tmp_path / "vox")
    out = read_dataset("voxceleb1", tmp_path / "vox")
    assert len(out.examples) == want["examples"]
    assert Counter(e.split for e in out.examples) == want["splits"]
    assert len({e.label for e in out.examples}) == want["speakers"]
    assert all(e.group == e.label == e.id.split("/")[1] for e in out.examples)
    assert len(out.trials) == want["trials"] and sum(t.target for t in out.trials) == want["target_trials"]
    reasons = sorted(s.reason for s in out.skips)
    assert len(reasons) == want["skips"]
    assert "missing on disk" in reasons[1] and "expected '<1|2|3>" in reasons[0]
    # Verification speakers are never identification training material.
    trial_spk = {x.split("/")[1] for t in out.trials for x in (t.enroll, t.test)}
    assert not trial_spk & {e.label for e in out.examples if e.split == "train"}

    prepared = prepare("voxceleb1", tmp_path / "vox", progress=False)
    assert len(prepared.examples) == want["examples"] and len(prepared.trials) == want["trials"]


def test_zebra_finch_original_names(tmp_path):
    want = zebra_finch_layout(tmp_path / "zf")
    out = read_dataset("zebra_finch", tmp_path / "zf")
    assert len(out.examples) == want["examples"]
    assert {e.label for e in out.examples} == {"Distance"}
    birds = Counter(e.group for e in out.examples)
    assert birds == {b: want["per_bird"] for b in
                     ("WhiLbl0010", "WhiRas44dd", "YelGre5275", "YelOra2575")}
    # Four birds, five folds asked: one bird per fold, never a bird on two folds.
    assert sorted({e.fold for e in out.examples}) == [1, 2, 3, 4]
    assert all(len({e.fold for e in out.examples if e.group == b}) == 1 for b in birds)
    reasons = {s.path.split("/")[0]: s.reason for s in out.skips}
    assert len(out.skips) == want["skips"]
    assert "hidden or archive-metadata" in reasons["__MACOSX"]
    assert "unknown call code 'Xyz'" in reasons["AdultVocalizations"]

    prepared = prepare("zebra_finch", tmp_path / "zf", progress=False)
    assert len(prepared.examples) == want["examples"]
    info = __import__("soundfile").info(prepared.examples[0].path)
    assert (info.samplerate, info.channels, info.subtype) == (44100, 2, "PCM_16")


def test_esc50_names_and_partial_metadata(tmp_path):
    want = esc50_layout(tmp_path / "esc")
    out = read_dataset("esc50", tmp_path / "esc")
    assert len(out.examples) == want["examples"]
    got = {e.id.split("/")[-1]: (e.fold, e.label, e.group) for e in out.examples}
    assert got["1-100032-A-0.wav"] == (1, "dog", "100032")
    assert got["2-100648-A-43.wav"] == (2, "car_horn", "100648")
    assert sorted(f for f, _, _ in got.values()) == [1, 2, 3, 4, 5]
    # The name's fold is the metadata's fold for every listed clip.
    assert all(int(name.split("-")[0]) == fold for name, (fold, _, _) in got.items())
    assert len(out.skips) == want["skips"]
    assert {s.path.split("/")[-1] for s in out.skips} == want["unlisted"]
    assert all("not listed in the metadata" in s.reason for s in out.skips)

    prepared = prepare("esc50", tmp_path / "esc", progress=False)
    assert len(prepared.examples) == 5 and len(prepared.skips) == 2


def test_real_audio_decodes_at_the_task_rates(tmp_path):
    from benchmark.audio import load_audio

    zebra = sorted((REAL / "zebra_finch").glob("*.wav"))[0]
    x = load_audio(zebra, 22050)  # stereo 44.1 kHz -> mono 22.05 kHz, as the bird task reads it
    assert x.ndim == 1 and np.isfinite(x).all() and 0.01 < np.abs(x).max() <= 1.0
    ami = load_audio(REAL / "ami" / "tst00.flac", 16000)
    assert len(ami) == 480001


def test_reference_lines_prefer_the_exact_meeting_name():
    from benchmark.transfer import _lines_for

    lines = ["SPEAKER trn00 1 1.0 2.0 <NA> <NA> A <NA> <NA>",
             "SPEAKER trñ00 1 5.0 1.0 <NA> <NA> B <NA> <NA>", "", "bad"]
    assert _lines_for("trñ00", lines, 1) == ["SPEAKER trñ00 1 5.0 1.0 <NA> <NA> B <NA> <NA>"]
    assert _lines_for("trñ01", ["trn01 NA 0.000 30.000"], 0) == ["trñ01 NA 0.000 30.000"]
    assert _lines_for("dev00", lines, 1) == []
