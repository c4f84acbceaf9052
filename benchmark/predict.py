"""Apply a trained run's model to audio files (``gaborbench predict``).

The run JSON says everything needed: the task, the feature settings the model
was trained on, where the model was saved, and (speech activity) the
binarization thresholds tuned on dev. Each file is decoded and turned into
log-mel exactly as in training, then

- speech activity: per-frame speech probabilities from overlapping windows
  (as training scored whole meetings), binarized into speech segments, printed
  as RTTM lines ``SPEAKER <file> 1 <onset> <duration> <NA> <NA> speech <NA> <NA>``;
- clip classifiers and speaker identification: the top-K labels with scores
  (class probabilities; cosine similarities for speaker models), one
  tab-separated line per label: ``<file> <rank> <label> <score>``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from benchmark.errors import UserError
from benchmark.io import read_json
from benchmark.train import fix_length, window_starts

DEFAULT_BINARIZE = {"onset": 0.5, "offset": 0.5, "min_duration_on": 0.0, "min_duration_off": 0.0}


@dataclasses.dataclass(frozen=True)
class Predictor:
    run: dict
    config: object          # benchmark.tasks.RunConfig
    features: object        # benchmark.features.FeatureConfig
    model: object           # keras.Model
    labels: list[str] | None
    binarize: dict | None   # SAD thresholds; None for clip tasks
    notes: tuple[str, ...]  # what the user should know (fallbacks taken)

    @property
    def output(self) -> str:
        return self.config.task_spec.output


def results_root(run_json: Path) -> Path:
    """``<out>`` of ``<out>/runs/<dataset>/<system>/<stem>.json``."""
    return run_json.resolve().parents[3]


def model_file(run: dict, run_json: Path) -> Path:
    rel = run.get("model_path")
    if not rel:
        raise UserError(f"the model of {run_json} was not saved (its model_path is empty); "
                        f"rerun the cell to get one")
    path = Path(rel) if Path(rel).is_absolute() else results_root(run_json) / rel
    if not path.is_file():
        raise UserError(f"the model of {run_json} is missing: looked for {path} "
                        f"(model_path {rel!r}, relative to the results root "
                        f"{results_root(run_json)}); models are not committed, rerun the cell")
    return path


def class_labels(run: dict, n_outputs: int) -> tuple[list[str] | None, str | None]:
    """The class names of the model's outputs, or (None, why) when the run lacks them."""
    cfg = run.get("config") or {}
    for labels in (run.get("classes"), (cfg.get("run") or {}).get("classes"), cfg.get("classes")):
        if isinstance(labels, list) and labels:
            if len(labels) != n_outputs:
                raise UserError(f"the run lists {len(labels)} classes but its model has "
                                f"{n_outputs} outputs")
            return [str(x) for x in labels], None
    return None, "the run file does not list its class names: showing class indices"


def binarize_params(run: dict) -> tuple[dict, str | None]:
    """Thresholds tuned on dev by training, or onset 0.5 (and a note) when absent."""
    tuned = ((run.get("config") or {}).get("run") or {}).get("binarize")
    if isinstance(tuned, dict) and "onset" in tuned:
        params = {k: float(tuned.get(k, DEFAULT_BINARIZE[k])) for k in DEFAULT_BINARIZE}
        params["offset"] = float(tuned.get("offset", tuned["onset"]))
        return params, None
    return dict(DEFAULT_BINARIZE), ("the run has no dev-tuned thresholds: binarizing at onset "
                                    "0.5, offset 0.5, no minimum durations")


def load_predictor(run_json) -> Predictor:
    from benchmark.tasks import RunConfig

    run_json = Path(run_json)
    if not run_json.is_file():
        raise UserError(f"run file not found: {run_json}")
    try:
        run = read_json(run_json)
        # the config also holds what training recorded about the run ("run"): not settings
        known = {f.name for f in dataclasses.fields(RunConfig)}
        config = RunConfig.from_json({k: v for k, v in run["config"].items() if k in known})
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{run_json} is not a readable run file ({type(e).__name__}: {e})") from None
    path = model_file(run, run_json)
    features = config.features

    import keras

    import benchmark.heads  # noqa: F401 -- registers the heads' custom layers
    import benchmark.layers  # noqa: F401 -- registers the Gabor layer
    from benchmark.registry import systems

    systems()  # import every baseline, registering any custom layer it defines
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # a corrupt file or a layer no module registers
        raise UserError(f"cannot load the model {path}: {type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}") from None

    notes = []
    labels = binarize = None
    if config.task_spec.output == "frame":
        binarize, note = binarize_params(run)
    else:
        labels, note = class_labels(run, int(model.output_shape[-1]))
    if note:
        notes.append(note)
    return Predictor(run, config, features, model, labels, binarize, tuple(notes))


# ------------------------------------------------------------------ inference


def _batched(model, x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([np.asarray(model.predict_on_batch(x[i:i + batch_size]), np.float32)
                           for i in range(0, len(x), batch_size)])


def frame_scores(p: Predictor, logmel: np.ndarray) -> np.ndarray:
    """Speech probability per frame: overlapping windows of the training chunk, averaged."""
    t = p.config.train
    chunk = max(4, round(t.chunk_seconds * p.features.frame_rate_hz))
    hop = max(1, round(chunk * t.eval_hop_fraction))
    starts = window_starts(len(logmel), chunk, hop)
    out = _batched(p.model, np.stack([fix_length(logmel, chunk, s) for s in starts]), t.batch_size)
    acc, cnt = np.zeros(len(logmel)), np.zeros(len(logmel))
    for s, row in zip(starts, out):
        m = min(chunk, len(logmel) - s)
        acc[s:s + m] += row[:m]
        cnt[s:s + m] += 1
    return acc / np.maximum(cnt, 1)


def clip_scores(p: Predictor, logmel: np.ndarray) -> np.ndarray:
    """Class scores of one file (speaker models: averaged over the training-length windows)."""
    cfg, f = p.config, p.features
    if cfg.task_spec.head == "xvector":
        chunk = max(4, round(cfg.train.chunk_seconds * f.frame_rate_hz))
        hop = max(1, round(chunk * cfg.train.eval_hop_fraction))
        starts = range(0, max(1, len(logmel) - chunk + 1), hop)
        wins = np.stack([fix_length(logmel, chunk, s) for s in starts])
        return _batched(p.model, wins, cfg.train.batch_size).mean(0)
    if f.clip_seconds:
        logmel = fix_length(logmel, f.n_frames(int(round(f.clip_seconds * f.sample_rate))))
    return _batched(p.model, logmel[None], 1)[0]


def top_k(scores: np.ndarray, labels: list[str] | None, k: int) -> list[tuple[str, float]]:
    order = np.argsort(-scores, kind="stable")[:k]  # ties: the lower class index first
    return [(labels[i] if labels else str(int(i)), float(scores[i])) for i in order]


def rttm_lines(uri: str, segments) -> list[str]:
    return [f"SPEAKER {uri} 1 {a:.3f} {b - a:.3f} <NA> <NA> speech <NA> <NA>"
            for a, b in segments]


def _logmel(path: str, p: Predictor) -> np.ndarray:
    from benchmark.audio import AudioError
    from benchmark.features import logmel_file

    try:
        return logmel_file(path, p.features)
    except AudioError as e:  # its message names the file
        raise UserError(f"cannot read audio: {e}") from None
    except (OSError, RuntimeError, ValueError) as e:
        raise UserError(f"cannot read audio {path}: {type(e).__name__}: {e}") from None


def predict_file(p: Predictor, path: str, k: int = 3) -> list[str]:
    """The output lines for one audio file."""
    x = _logmel(path, p)
    if p.output == "frame":
        from benchmark.metrics import binarize

        segs = binarize(frame_scores(p, x), p.features.frame_rate_hz, **p.binarize)
        return rttm_lines(Path(path).stem.replace(" ", "_"), segs)
    return [f"{path}\t{rank}\t{label}\t{score:.4f}"
            for rank, (label, score) in enumerate(top_k(clip_scores(p, x), p.labels, k), 1)]


def cli_predict(args) -> int:
    if args.top < 1:
        raise UserError(f"--top must be at least 1, got {args.top}")
    missing = [a for a in args.audio if not Path(a).is_file()]
    if missing:
        raise UserError(f"audio file not found: {', '.join(missing)}")
    p = load_predictor(args.run_json)
    for note in p.notes:
        print(f"note: {note}", file=sys.stderr)
    for path in args.audio:
        for line in predict_file(p, path, args.top):
            print(line)
    return 0
