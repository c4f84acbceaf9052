"""AMI MixHeadset, pyannote-style references.

``amicorpus/<ID>/audio/<ID>.Mix-Headset.wav``, ``lists/{train,dev,test}.meetings.txt``,
``rttms/{split}/<ID>.rttm`` (SPEAKER lines: type file chan start dur <NA> <NA>
speaker <NA> <NA>) and ``uems/{split}/<ID>.uem`` (file chan start end). One
example per meeting: segments = union of all speakers' turns, uem = scored
region (first start to last end when a UEM has several lines).
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmark.adapters import register_adapter
from benchmark.adapters.common import (NOT_UTF8, finite_seconds, merge_segments, path_problem,
                                       read_lines, rel_id, short)
from benchmark.data import AdapterOutput, Example, Skip
from benchmark.errors import UserError

SPLITS = ("train", "dev", "test")
# AMI meeting ids (ES2002a, IS1000b, TS3003c, EN2001a, IB4001 ...); anything else,
# '..' above all, is not a meeting
# A meeting name is one path component: letters (any script), digits, '_', '.', '-'.
MEETING = re.compile(r"^[^\W_][\w.-]*$")


def read_rttm(path: Path, file_id: str) -> list[tuple[float, float]]:
    """Speaker turns of ``file_id``. Raises ValueError naming the file and line of a bad one."""
    turns = []
    for n, line in read_lines(path, "ami"):
        where = f"{path.name}:{n}"
        if line is None:
            raise ValueError(f"{where}: {NOT_UTF8}")
        f = line.split()
        if len(f) >= 5 and f[0] == "SPEAKER" and f[1] == file_id:
            try:
                start, dur = finite_seconds(f[3]), finite_seconds(f[4])
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            turns.append((start, start + dur))
    return turns


def read_uem(path: Path, file_id: str) -> tuple[float, float] | None:
    """The scored region of ``file_id`` (first start to last end), or None when no line names it."""
    spans = []
    for n, line in read_lines(path, "ami"):
        where = f"{path.name}:{n}"
        if line is None:
            raise ValueError(f"{where}: {NOT_UTF8}")
        f = line.split()
        if len(f) == 4 and f[0] == file_id:
            try:
                start, end = finite_seconds(f[2]), finite_seconds(f[3])
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            if end <= start:
                raise ValueError(f"{where}: scored region ends ({end}) before it starts ({start})")
            spans.append((start, end))
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
        for n, line in read_lines(lst, "ami"):
            where = f"lists/{lst.name}:{n}"
            if line is None:
                skips.append(Skip(where, NOT_UTF8))
                continue
            for meeting in line.split():
                if not MEETING.match(meeting) or meeting in (".", ".."):
                    skips.append(Skip(where, f"bad meeting name {short(meeting)!r}"))
                    continue
                _meeting(root, split, meeting, where, seen, examples, skips)
    if not examples:
        raise UserError(f"ami: no usable meetings under {root} ({len(skips)} skipped).")
    return AdapterOutput(
        examples=examples, skips=skips,
        protocol="lists/{train,dev,test}.meetings.txt; speech = union of RTTM speaker turns; "
                 "scored region from the UEM",
    )


def _meeting(root: Path, split: str, meeting: str, where: str, seen: set, examples: list, skips: list):
    wav = root / "amicorpus" / meeting / "audio" / f"{meeting}.Mix-Headset.wav"
    rttm = root / "rttms" / split / f"{meeting}.rttm"
    uem_path = root / "uems" / split / f"{meeting}.uem"
    for p in (wav, rttm, uem_path):
        why = path_problem(root, p)
        if why:
            skips.append(Skip(where, f"{why}: {rel_id(p, root)}"))
            return
    rid = rel_id(wav, root)
    if meeting in seen:
        skips.append(Skip(rid, f"meeting listed twice (again in {split})"))
        return
    seen.add(meeting)
    missing = [p for p in (wav, rttm, uem_path) if not p.is_file()]
    if missing:
        skips.append(Skip(rid, f"missing {rel_id(missing[0], root)}"))
        return
    try:
        segments = merge_segments(read_rttm(rttm, meeting))
        uem = read_uem(uem_path, meeting)
    except (ValueError, UserError) as e:
        # one bad reference line makes the whole meeting's truth unknown: drop the meeting
        skips.append(Skip(rid, f"unusable reference: {split}/{e}"))
        return
    if uem is None:
        skips.append(Skip(rid, f"no line for {meeting} in {rel_id(uem_path, root)}"))
        return
    examples.append(Example(id=rid, path=str(wav), group=meeting, split=split,
                            segments=segments, uem=uem))
