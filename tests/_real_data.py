"""Lay the real recordings of tests/data/real out in each dataset's own on-disk layout.

Each function writes into ``dest`` exactly what the real dataset's archive holds
(names, folders, metadata files), plus the irregularities a real tree has, and
returns what the adapter should make of it, so a test can compare counts.
"""

from __future__ import annotations

import shutil
from itertools import combinations
from pathlib import Path

import soundfile as sf

from benchmark.transfer import ami_layout  # noqa: F401 -- the AMI layout, shared with transfer

REAL = Path(__file__).parent / "data" / "real"


def _to_wav(src: Path, dst: Path) -> None:
    # The shipped FLACs are 16-bit: rewriting them as 16-bit WAV is lossless.
    x, sr = sf.read(src, dtype="int16")
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dst, x, sr, subtype="PCM_16")


def voxceleb_layout(dest: Path) -> dict:
    """A VoxCeleb1 tree from the LibriSpeech readers: ``wav/idXXXXX/<chapter>/NNNNN.wav``.

    Readers 1-4 are the identification speakers (utterances 1-2 train, 3 dev,
    4 test in iden_split.txt); readers 5-6 appear only in veri_test2.txt (every
    pair of their 8 utterances), as VoxCeleb's verification speakers do. Two
    broken iden_split lines (a missing file, a bad split code) must be skipped.
    """
    readers = sorted(p for p in (REAL / "librispeech").iterdir() if p.is_dir())
    assert len(readers) == 6
    iden, veri_utts = [], []
    for i, reader in enumerate(readers, start=1):
        spk = f"id{10000 + i}"
        for n, flac in enumerate(sorted(reader.glob("*.flac")), start=1):
            _, chapter, utt = flac.stem.split("-")
            rel = f"{spk}/{chapter}/{int(utt):05d}.wav"
            _to_wav(flac, dest / "wav" / rel)
            if i <= 4:
                iden.append(f"{1 if n <= 2 else n - 1} {rel}")
            else:
                veri_utts.append(rel)
    iden += ["3 id10001/nochapter/00099.wav", "7 " + iden[0].split()[1]]
    (dest / "iden_split.txt").write_text("\n".join(iden) + "\n", encoding="utf-8")
    trials = [f"{int(a.split('/')[0] == b.split('/')[0])} {a} {b}"
              for a, b in combinations(veri_utts, 2)]
    (dest / "veri_test2.txt").write_text("\n".join(trials) + "\n", encoding="utf-8")
    return {"examples": 16 + 8, "splits": {"train": 8, "dev": 4, "test": 4 + 8},
            "speakers": 6, "trials": 28, "target_trials": 12, "skips": 2}


def zebra_finch_layout(dest: Path) -> dict:
    """The calls under the archive's nesting, with a misnamed call and macOS metadata."""
    calls = sorted((REAL / "zebra_finch").glob("*.wav"))
    adult = dest / "AdultVocalizations"
    adult.mkdir(parents=True)
    for c in calls:
        shutil.copy(c, adult / c.name)
    shutil.copy(calls[0], adult / "WhiLbl0010_110411-Xyz-01.wav")  # unknown call code
    (dest / "__MACOSX" / "AdultVocalizations").mkdir(parents=True)
    shutil.copy(calls[0], dest / "__MACOSX" / "AdultVocalizations" / calls[0].name)
    return {"examples": 12, "birds": 4, "per_bird": 3, "skips": 2}


def esc50_layout(dest: Path) -> dict:
    """``ESC-50-master/audio/*.wav`` and the partial ``meta/esc50.csv`` as shipped."""
    base = dest / "ESC-50-master"
    for flac in sorted((REAL / "esc50").glob("*.flac")):
        _to_wav(flac, base / "audio" / f"{flac.stem}.wav")
    (base / "meta").mkdir(parents=True)
    shutil.copy(REAL / "esc50" / "meta" / "esc50.csv", base / "meta" / "esc50.csv")
    return {"examples": 5, "skips": 2, "unlisted": {"4-107117-A-33.wav", "5-103415-A-2.wav"}}
