"""Twin-to-real check: speech-activity models trained on the AMI twin, scored on real AMI audio.

The twins let the whole benchmark run offline, but a model that only works on
its twin says little. The repository ships 14 real 30 s excerpts of AMI
Mix-Headset meetings with their reference speaker turns (``tests/data/real/ami``,
see its README). ``twin_to_real`` applies every speech-activity model trained on
the AMI twin to them, through the same path as ``gaborbench predict`` (the
run's own feature settings, windows and dev-tuned thresholds), and scores the
detection error rate as the benchmark scores AMI. No model is ever trained on
these excerpts: the table measures transfer, not fit.

The excerpts are laid out in the AMI dataset's own layout (meeting folders,
split lists, RTTM, UEM) and read back with the AMI adapter, so the check also
exercises the real loader.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
import tempfile
import unicodedata
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmark import results
from benchmark.adapters import read_dataset
from benchmark.audio import load_audio
from benchmark.errors import UserError
from benchmark.features import compute_logmel
from benchmark.io import write_text
from benchmark.metrics import binarize, detection_metrics
from benchmark.predict import load_predictor
from benchmark.results import RunRecord

# Shipped with the repository (not with an installed wheel: the data are test data).
EXCERPTS = Path(__file__).resolve().parents[1] / "tests" / "data" / "real" / "ami"
# The excerpts' own debug protocol names its development split "development".
_SPLIT_FILES = {"train": "train", "dev": "development", "test": "test"}


def _ascii(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()


def _lines_for(meeting: str, lines: list[str], uri_field: int) -> list[str]:
    """The reference lines of ``meeting``, rewritten to name it exactly.

    The source's references spell the excerpt "trñ00" as "trn00" (its RTTM and
    UEM) while its list and file name keep the accent: when no line names the
    meeting exactly, lines naming its accent-folded spelling are taken.
    """
    split = [line.split() for line in lines]
    split = [f for f in split if len(f) > uri_field]
    mine = [f for f in split if f[uri_field] == meeting]
    if not mine:
        mine = [f for f in split if _ascii(f[uri_field]) == _ascii(meeting)]
    return [" ".join(f[:uri_field] + [meeting] + f[uri_field + 1:]) for f in mine]


def ami_layout(dest: str | Path, source: str | Path = EXCERPTS) -> Path:
    """Write the real excerpts under ``dest`` in the AMI dataset's layout; return ``dest``.

    ``amicorpus/<ID>/audio/<ID>.Mix-Headset.wav`` (16 kHz 16-bit PCM, decoded from
    the shipped FLAC), ``lists/{train,dev,test}.meetings.txt``,
    ``rttms/<split>/<ID>.rttm`` and ``uems/<split>/<ID>.uem``, where ``<ID>`` is the
    excerpt's name (one of them non-ASCII).
    """
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise UserError(f"the real AMI excerpts are not at {source} (they ship in the "
                        f"repository's tests/data/real/ami; run from a source checkout)")
    for split, stem in _SPLIT_FILES.items():
        lst = source / f"debug.{stem}.lst"
        rttm_lines = (source / f"debug.{stem}.rttm").read_text(encoding="utf-8").splitlines()
        uem_lines = (source / f"debug.{stem}.uem").read_text(encoding="utf-8").splitlines()
        meetings = lst.read_text(encoding="utf-8").split()
        for m in meetings:
            flac = source / f"{m}.flac"
            if not flac.is_file():
                raise UserError(f"{lst} lists {m!r} but {flac} is missing")
            wav = dest / "amicorpus" / m / "audio" / f"{m}.Mix-Headset.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            x, sr = sf.read(flac, dtype="int16")
            sf.write(wav, x, sr, subtype="PCM_16")
            for folder, lines, uri_field in (("rttms", rttm_lines, 1), ("uems", uem_lines, 0)):
                mine = _lines_for(m, lines, uri_field)
                out = dest / folder / split / f"{m}.{folder[:-1]}"
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text("\n".join(mine) + "\n", encoding="utf-8")
        (dest / "lists").mkdir(parents=True, exist_ok=True)
        (dest / "lists" / f"{split}.meetings.txt").write_text("\n".join(meetings) + "\n",
                                                              encoding="utf-8")
    return dest


def real_excerpts(root: str | Path) -> list:
    """The excerpts as the AMI adapter reads them (every split: none was trained on)."""
    out = read_dataset("ami", Path(root))
    return sorted(out.examples, key=lambda e: e.id)


def all_speech(examples) -> dict[str, float]:
    """Detection metrics of the hypothesis 'speech everywhere in the scored region'."""
    ref = {e.id: e.segments for e in examples}
    return detection_metrics(ref, {e.id: [e.uem] for e in examples}, {e.id: e.uem for e in examples})


def score_predictor(predictor, examples, gain_db: float = 0.0) -> dict[str, float]:
    """Apply a speech-activity predictor to the excerpts (scaled by ``gain_db``) and score it.

    Each file goes through predict's own steps: log-mel with the run's feature
    settings, overlapping windows, the run's dev-tuned binarisation. The gain is
    applied to the decoded waveform without clipping, so a level change is
    measured apart from any saturation it would cause in a real recording.
    """
    if predictor.task.output != "frame":
        raise UserError(f"the run {predictor.run.get('dataset')}/{predictor.run.get('system')} is "
                        f"not a speech-activity model")
    f = predictor.features
    scale = 10.0 ** (gain_db / 20.0)
    hyp = {}
    for e in examples:
        x = load_audio(e.path, f.sample_rate) * np.float32(scale)
        scores = predictor.task.frame_scores(predictor, compute_logmel(x, f))
        hyp[e.id] = binarize(scores, f.frame_rate_hz, **predictor.binarize)
    return detection_metrics({e.id: e.segments for e in examples}, hyp,
                             {e.id: e.uem for e in examples})


def _twin_sad_runs(runs_dir: Path) -> list[tuple[Path, dict]]:
    found = []
    for path in sorted((runs_dir / "ami").glob("*/seed*.json")):
        try:
            run = RunRecord.load(path).to_json()
        except ValueError as e:
            raise UserError(f"{path} is not a readable run file ({e})") from None
        if run.get("task") == "speech_activity" and run.get("data_source") == "twin":
            found.append((path, run))
    return found


def _mean_std(values: list[float]) -> tuple[float, float]:
    # sample standard deviation, as the main table; a single run has none (0.0)
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


_METRICS = ("detection_error_rate", "false_alarm_rate", "miss_rate")


def twin_to_real(runs_dir: str | Path, out_dir: str | Path, excerpts: str | Path = EXCERPTS
                 ) -> list[dict]:
    """Score every AMI-twin speech-activity run under ``runs_dir`` on the real excerpts.

    Writes ``<out_dir>/tables/twin_to_real.csv`` and ``.md``; returns the rows
    (one per system, mean and sample std over its seeds, then the all-speech
    hypothesis). Runs of one system under another profile or feature level get
    a row of their own rather than being pooled. Rates are fractions in the CSV
    and percentages in the table.
    """
    runs_dir, out_dir = Path(runs_dir), Path(out_dir)
    runs = _twin_sad_runs(runs_dir)
    if not runs:
        raise UserError(f"no speech-activity runs on the AMI twin under {runs_dir / 'ami'} "
                        f"(expected <runs>/ami/<system>/seed*.json): run e.g. `gaborbench run "
                        f"--dataset ami --system mel --profile demo` first")
    per_system: dict[tuple[str, str, str], list[dict]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="twin_to_real."))
    try:
        examples = real_excerpts(ami_layout(tmp, excerpts))
        for path, run in runs:
            level = ((run.get("config") or {}).get("features") or {}).get("level", "none")
            key = (run["system"], str(run.get("profile")), str(level))
            per_system.setdefault(key, []).append(score_predictor(load_predictor(path), examples))
        baseline = all_speech(examples)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    for (system, profile, level), rs in sorted(per_system.items()):
        row = {"system": system, "n_runs": len(rs), "profile": profile, "feature_level": level}
        for k in _METRICS:
            row[f"{k}_mean"], row[f"{k}_std"] = _mean_std([r[k] for r in rs])
        rows.append(row)
    row = {"system": "all speech (no model)", "n_runs": 0, "profile": "", "feature_level": ""}
    for k in _METRICS:
        row[f"{k}_mean"], row[f"{k}_std"] = baseline[k], math.nan
    rows.append(row)
    _write_tables(out_dir / "tables", rows, examples)
    return rows


def _write_tables(folder: Path, rows: list[dict], examples) -> None:


    cols = list(rows[0])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()})
    write_text(folder / "twin_to_real.csv", buf.getvalue())

    def cell(r, k):
        mean, std = 100 * r[f"{k}_mean"], r[f"{k}_std"]
        if math.isnan(std):
            return f"{mean:.1f}"
        if r["n_runs"] == 1:   # one run has no spread to show: say so rather than "± 0.0"
            return f"{mean:.1f} (1 run)"
        return f"{mean:.1f} ± {100 * std:.1f}"

    seconds = sum(e.uem[1] - e.uem[0] for e in examples)
    lines = ["| system | profile | feature level | runs | DetER (%) ↓ | false alarm (%) | miss (%) |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['system']} | {r['profile'] or '–'} | {r['feature_level'] or '–'} | "
                     f"{r['n_runs']} | "
                     f"{cell(r, 'detection_error_rate')} | {cell(r, 'false_alarm_rate')} | "
                     f"{cell(r, 'miss_rate')} |")
    lines += [
        "",
        f"- Models trained on the synthetic AMI twin, applied to {len(examples)} real AMI "
        f"Mix-Headset excerpts ({seconds / 60:.1f} min scored; tests/data/real/ami, CC BY 4.0). "
        f"No model was trained or tuned on these excerpts: thresholds are the ones each run "
        f"tuned on its twin's dev split.",
        "- Cells: mean ± sample standard deviation over seeds, in percent; a single run shows "
        "its value alone, marked (1 run).",
        "- DetER (detection error rate) = (false alarm + missed detection) / total reference "
        "speech duration, summed over files (duration-weighted), pyannote.metrics semantics, "
        "collar 0, scored within each excerpt's UEM; reference speech = union of the RTTM "
        "speaker turns.",
        "- all speech (no model): the hypothesis 'speech everywhere in the UEM' (miss 0).",
        "- feature level: the run's per-clip level normalisation (features.level).",
    ]
    write_text(folder / "twin_to_real.md", "\n".join(lines) + "\n")


def cli_transfer(args) -> int:
    out = Path(args.out) if args.out else results.default_out()
    runs = Path(args.runs) if args.runs else out / "runs"
    rows = twin_to_real(runs, out)
    for r in rows:
        what = f"{r['profile']}, level {r['feature_level']}, {r['n_runs']} run(s)" if r["n_runs"] \
            else "no model"
        print(f"{r['system']:<24} DetER {100 * r['detection_error_rate_mean']:6.1f} %  "
              f"(false alarm {100 * r['false_alarm_rate_mean']:.1f} %, "
              f"miss {100 * r['miss_rate_mean']:.1f} %; {what})")
    print(f"wrote {out / 'tables' / 'twin_to_real.csv'} and .md")
    return 0
