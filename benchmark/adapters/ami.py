"""AMI MixHeadset, pyannote-style references.

``amicorpus/<ID>/audio/<ID>.Mix-Headset.wav``, ``lists/{train,dev,test}.meetings.txt``,
``rttms/{split}/<ID>.rttm`` (SPEAKER lines: type file chan start dur <NA> <NA>
speaker <NA> <NA>) and ``uems/{split}/<ID>.uem`` (file chan start end). One
example per meeting: segments = union of all speakers' turns, uem = scored
region (first start to last end when a UEM has several lines).
"""

from __future__ import annotations

from pathlib import Path

from benchmark.adapters import register_adapter
from benchmark.adapters.common import merge_segments, rel_id
from benchmark.data import AdapterOutput, Example, Skip
from benchmark.errors import UserError

SPLITS = ("train", "dev", "test")


def read_rttm(path: Path, file_id: str) -> list[tuple[float, float]]:
    turns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        f = line.split()
        if len(f) >= 5 and f[0] == "SPEAKER" and f[1] == file_id:
            start, dur = float(f[3]), float(f[4])
            turns.append((start, start + dur))
    return turns


def read_uem(path: Path, file_id: str) -> tuple[float, float] | None:
    spans = [(float(f[2]), float(f[3])) for f in
             (line.split() for line in path.read_text(encoding="utf-8").splitlines())
             if len(f) == 4 and f[0] == file_id]
    if not spans:
        return None
    return (min(s for s, _ in spans), max(e for _, e in spans))


@register_adapter("ami")
def read(root: Path) -> AdapterOutput:
    for need in ("amicorpus", "lists", "rttms", "uems"):
        if not (root / need).is_dir():
            raise UserError(f"ami: {root} does not look like the dataset: expected the folder "
                            f"{root / need} (amicorpus/, lists/, rttms/, uems/).")
    examples, skips, seen = [], [], set()
    for split in SPLITS:
        lst = root / "lists" / f"{split}.meetings.txt"
        if not lst.is_file():
            raise UserError(f"ami: expected the meeting list {lst}.")
        for meeting in lst.read_text(encoding="utf-8").split():
            wav = root / "amicorpus" / meeting / "audio" / f"{meeting}.Mix-Headset.wav"
            rttm = root / "rttms" / split / f"{meeting}.rttm"
            uem_path = root / "uems" / split / f"{meeting}.uem"
            rid = rel_id(wav, root)
            if meeting in seen:
                skips.append(Skip(rid, f"meeting listed twice (again in {split})"))
                continue
            seen.add(meeting)
            missing = [p for p in (wav, rttm, uem_path) if not p.is_file()]
            if missing:
                skips.append(Skip(rid, f"missing {rel_id(missing[0], root)}"))
                continue
            try:
                segments = merge_segments(read_rttm(rttm, meeting))
                uem = read_uem(uem_path, meeting)
            except (ValueError, IndexError) as e:
                skips.append(Skip(rid, f"unparseable reference: {e}"))
                continue
            if uem is None:
                skips.append(Skip(rid, f"no line for {meeting} in {rel_id(uem_path, root)}"))
                continue
            examples.append(Example(id=rid, path=str(wav), group=meeting, split=split,
                                    segments=segments, uem=uem))
    if not examples:
        raise UserError(f"ami: no usable meetings under {root} ({len(skips)} skipped).")
    return AdapterOutput(
        examples=examples, skips=skips,
        protocol="lists/{train,dev,test}.meetings.txt; speech = union of RTTM speaker turns; "
                 "scored region from the UEM",
    )
