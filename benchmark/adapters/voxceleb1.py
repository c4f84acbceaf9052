"""VoxCeleb1: ``wav/idXXXXX/<video>/NNNNN.wav`` + ``iden_split.txt`` + ``veri_test2.txt``.

Identification examples come from iden_split.txt (1/2/3 = train/dev/test),
label = group = speaker id. Verification trials (veri_test2.txt) refer to
example ids; an utterance used by trials but not listed in iden_split.txt
becomes an Example with split "test" (it is only ever scored, never trained
on). Meta files are looked for in the root and in ``meta/``.

The real iden_split.txt lists all 1,251 speakers, the 40 verification speakers
included, with some of their utterances in its train split. Identification
uses that split as published; a verification model must never see a trial
speaker, so the task drops ``verification_speakers(trials, examples)`` (the
groups of every trial utterance) from its training data.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.adapters import register_adapter
from benchmark.adapters.common import NOT_UTF8, path_problem, read_lines, short
from benchmark.data import AdapterOutput, Example, Skip, Trial
from benchmark.errors import UserError

SPLITS = {"1": "train", "2": "dev", "3": "test"}
IDEN, VERI = "iden_split.txt", "veri_test2.txt"


def _meta(root: Path, name: str) -> Path | None:
    for p in (root / name, root / "meta" / name):
        if p.is_file():
            return p
    return None


def _lines(path: Path, skips: list[Skip]):
    """(where, fields) of each non-blank line; undecodable lines become skips."""
    for n, line in read_lines(path, "voxceleb1"):
        where = f"{path.name}:{n}"
        if line is None:
            skips.append(Skip(where, NOT_UTF8))
        elif line.strip():
            yield where, line.split()


def speaker_of(example: Example) -> str:
    """The speaker of a VoxCeleb example: its group, else the id's speaker folder."""
    if example.group:
        return example.group
    parts = example.id.split("/")
    return parts[1] if len(parts) > 1 else example.id


def verification_speakers(trials, examples) -> set[str]:
    """Speakers of every utterance the verification trials use.

    A verification model trained on any of them would be scored on voices it
    has learnt; the task removes their examples from verification training.
    Raises UserError when a trial names an utterance missing from ``examples``
    (then its speaker is unknown and could leak into training).
    """
    by_id = {e.id: e for e in examples}
    speakers = set()
    for t in trials:
        for side in (t.enroll, t.test):
            ex = by_id.get(side)
            if ex is None:
                raise UserError(f"voxceleb1: the verification trial '{t.enroll} {t.test}' refers to {side}, "
                                f"which is not in the dataset listing; prepare the dataset again, or remove "
                                f"the trial from {VERI}")
            speakers.add(speaker_of(ex))
    return speakers


@register_adapter("voxceleb1")
def read(root: Path) -> AdapterOutput:
    wav = root / "wav"
    iden, veri = _meta(root, IDEN), _meta(root, VERI)
    if not wav.is_dir():
        raise UserError(f"voxceleb1: expected the audio folder {wav} (wav/idXXXXX/<video>/NNNNN.wav).")
    if iden is None and veri is None:
        raise UserError(f"voxceleb1: expected {root / IDEN} and/or {root / VERI} (or in {root / 'meta'}).")

    examples: dict[str, Example] = {}
    skips: list[Skip] = []
    in_iden = _read_iden(root, iden, examples, skips) if iden is not None else {}
    trials = _read_trials(root, veri, examples, skips) if veri is not None else []
    if not examples:
        raise UserError(f"voxceleb1: no usable utterances under {wav} ({len(skips)} skipped).")
    return AdapterOutput(examples=list(examples.values()), trials=trials, skips=skips,
                         protocol=_protocol(iden, veri, in_iden, trials, examples))


def _example(root: Path, rel: str, split: str, where: str, skips: list) -> Example | None:
    """The utterance ``wav/<rel>``, or None (and a skip saying why)."""
    parts = rel.split("/")
    if (len(parts) != 3 or not parts[0].startswith("id") or not rel.endswith(".wav")
            or any(p in ("", ".", "..") for p in parts)):
        skips.append(Skip(where, f"bad utterance path {short(rel)!r} (expected idXXXXX/<video>/NNNNN.wav)"))
        return None
    path = root / "wav" / rel
    why = path_problem(root, path)
    if why:
        skips.append(Skip(where, f"{why}: {short(rel)!r}"))
        return None
    if not path.is_file():
        skips.append(Skip(f"wav/{rel}", "listed in the metadata but missing on disk"))
        return None
    return Example(id=f"wav/{rel}", path=str(path), label=parts[0], group=parts[0], split=split)


def _read_iden(root: Path, iden, examples: dict, skips: list) -> dict[str, Example]:
    """iden_split.txt's utterances, added to ``examples``; returns those it listed."""
    in_iden: dict[str, Example] = {}
    for where, fields in _lines(iden, skips):
        if len(fields) != 2 or fields[0] not in SPLITS:
            skips.append(Skip(where, "expected '<1|2|3> idXXXXX/<video>/NNNNN.wav'"))
            continue
        ex = _example(root, fields[1], SPLITS[fields[0]], where, skips)
        if ex is not None and ex.id not in examples:
            examples[ex.id] = in_iden[ex.id] = ex
    return in_iden


def _read_trials(root: Path, veri, examples: dict, skips: list) -> list[Trial]:
    """veri_test2.txt's trials; utterances not in iden_split join ``examples`` as 'test'."""
    trials: list[Trial] = []
    for where, fields in _lines(veri, skips):
        if len(fields) != 3 or fields[0] not in ("0", "1"):
            skips.append(Skip(where, "expected '<0|1> <enroll.wav> <test.wav>'"))
            continue
        ids = []
        for rel in fields[1:]:
            key = f"wav/{rel}"
            if key not in examples:
                ex = _example(root, rel, "test", where, skips)
                if ex is not None:
                    examples[key] = ex
            ids.append(key if key in examples else None)
        if None in ids:
            skips.append(Skip(where, "trial refers to an unusable utterance"))
            continue
        trials.append(Trial(enroll=ids[0], test=ids[1], target=fields[0] == "1"))
    return trials


def _protocol(iden, veri, in_iden: dict, trials: list, examples: dict) -> str:
    parts = []
    if iden is not None:
        parts.append("identification: iden_split.txt (1/2/3 = train/dev/test)")
    else:
        parts.append(f"identification: unavailable ({IDEN} not found)")
    if veri is not None:
        spk = verification_speakers(trials, examples.values())
        listed = {e.group for e in in_iden.values()} & spk
        in_train = {e.group for e in in_iden.values() if e.split == "train"} & spk
        parts.append(f"verification: veri_test2.txt trials on {len(spk)} speakers ({len(listed)} of them "
                     f"also in iden_split, {len(in_train)} in its train split); group = speaker id, and "
                     f"verification training must exclude voxceleb1.verification_speakers(trials, "
                     f"examples); trial utterances not in iden_split are examples with split 'test'")
    else:
        parts.append(f"verification: unavailable ({VERI} not found)")
    return "; ".join(parts)
