"""CHiME-5, far-field array U01 channel 1, for speech activity detection.

``CHiME5/audio/{train,dev,eval}/<S>_U01.CH1.wav`` and
``CHiME5/transcriptions/{train,dev,eval}/<S>.json``. Speech references are
rebuilt from the transcriptions: each utterance's U01 start/end when present
(device-aligned), else its "original" time; overlaps merged. The scored
region (uem) is the span the transcriptions cover: first utterance start to
last utterance end (the recordings run on before and after the annotated
session). eval is our test split.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.adapters import register_adapter
from benchmark.adapters.common import finite_seconds, find_base, merge_segments, path_problem, rel_id
from benchmark.data import AdapterOutput, Example, Skip
from benchmark.errors import UserError

SPLITS = {"train": "train", "dev": "dev", "eval": "test"}
DEVICE = "U01"


def parse_time(value) -> float:
    """'H:MM:SS.ss' (or plain seconds) to seconds; ValueError unless finite and >= 0."""
    if isinstance(value, bool):
        raise ValueError(f"bad time {value!r}")
    if isinstance(value, (int, float)):
        return finite_seconds(value)
    parts = str(value).strip().split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"bad time {value!r}")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + finite_seconds(p)
    return finite_seconds(seconds)


def _text(path: Path) -> str:
    """The file as text (a byte-order mark is not an error); ValueError naming the
    line of the first byte that is not UTF-8."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise ValueError(f"line {line}: not UTF-8 text") from None


def utterance_span(utt: dict) -> tuple[float, float]:
    start, end = utt["start_time"], utt["end_time"]
    key = DEVICE if DEVICE in start and DEVICE in end else "original"
    return parse_time(start[key]), parse_time(end[key])


@register_adapter("chime5")
def read(root: Path) -> AdapterOutput:
    base = find_base(root, "chime5", "transcriptions", "CHiME5")
    if not (base / "audio").is_dir():
        raise UserError(f"chime5: expected the folder {base / 'audio'} "
                        f"(audio/{{train,dev,eval}}/<S>_U01.CH1.wav).")
    examples, skips = [], []
    for folder, split in SPLITS.items():
        for js in sorted((base / "transcriptions" / folder).glob("*.json")):
            session = js.stem
            wav = base / "audio" / folder / f"{session}_{DEVICE}.CH1.wav"
            rid = rel_id(wav, base)
            why = path_problem(base, wav) or path_problem(base, js)
            if why:
                skips.append(Skip(rid, why))
                continue
            if not wav.is_file():
                skips.append(Skip(rid, f"no {DEVICE} channel 1 audio for session {session}"))
                continue
            try:
                utts = json.loads(_text(js))
                if not isinstance(utts, list):
                    raise ValueError("expected a list of utterances")
            except (ValueError, OSError, RecursionError) as e:
                skips.append(Skip(rel_id(js, base), f"unreadable transcription: {e}"))
                continue
            spans = []
            for i, utt in enumerate(utts):
                try:
                    s, e = utterance_span(utt)
                except (KeyError, TypeError, ValueError, IndexError) as err:
                    skips.append(Skip(f"{rel_id(js, base)}#{i}", f"utterance without usable times: {err}"))
                    continue
                spans.append((s, e))
            if not spans:
                skips.append(Skip(rid, "transcription holds no usable utterance"))
                continue
            examples.append(Example(
                id=rid, path=str(wav), group=session, split=split,
                segments=merge_segments(spans),
                uem=(round(min(s for s, _ in spans), 6), round(max(e for _, e in spans), 6)),
            ))
    if not examples:
        raise UserError(f"chime5: no usable sessions under {base} ({len(skips)} skipped); expected "
                        f"transcriptions/{{train,dev,eval}}/<S>.json with audio/<split>/<S>_U01.CH1.wav.")
    return AdapterOutput(
        examples=examples, skips=skips,
        protocol="official train/dev/eval sessions (eval = test); U01 CH1; speech = union of "
                 "transcribed utterances (U01 times, else original); uem = first start to last end",
    )
