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
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from benchmark.audio import AudioError
from benchmark.config import RunConfig, check_limits
from benchmark.errors import UserError
from benchmark.features import logmel_file
from benchmark.results import RunRecord
from benchmark.systems import systems

# Keras, and the modules built on it (heads, layers), load only when a model is loaded:
# the command line checks its arguments without TensorFlow's start-up (seconds).

DEFAULT_BINARIZE = {"onset": 0.5, "offset": 0.5, "min_duration_on": 0.0, "min_duration_off": 0.0}


@dataclasses.dataclass(frozen=True)
class Predictor:
    run: dict
    config: object          # benchmark.config.RunConfig
    model: object           # keras.Model
    labels: list[str] | None
    binarize: dict | None   # SAD thresholds; None for clip tasks
    notes: tuple[str, ...]  # what the user should know (fallbacks taken)

    @property
    def task(self):
        return self.config.task_class

    @property
    def features(self):
        return self.config.features


def results_root(run_json: Path) -> Path:
    """``<out>`` of ``<out>/runs/<dataset>/<system>/<stem>.json``; a run file anywhere
    else has no results root to find its model in (a one-line error, not an IndexError)."""
    parents = Path(os.path.abspath(run_json)).parents
    if len(parents) < 4 or parents[2].name != "runs":
        raise UserError(f"{run_json} is not at <results>/runs/<dataset>/<system>/<file>.json, "
                        f"so its model (saved under <results>/models/) cannot be found; "
                        f"use the run file where training wrote it")
    return parents[3]


def model_file(run: dict, run_json: Path) -> Path:
    rel = run.get("model_path")
    if not rel:
        raise UserError(f"the model of {run_json} was not saved (its model_path is empty); "
                        f"rerun the cell to get one")
    if not isinstance(rel, str):
        raise UserError(f"{run_json}: model_path {rel!r} is not a path; rerun the cell")
    if Path(rel).is_absolute():
        # written by a person who moved the model on purpose; the digest check below
        # still says whether it is the model this run saved
        path = Path(rel)
        if not path.is_file():
            raise UserError(f"the model of {run_json} is missing: looked for {path}")
        return path
    if ".." in Path(rel).parts:
        # a relative path read from a file must stay inside the results root it belongs to
        raise UserError(f"{run_json}: model_path {rel!r} leads outside the results root; "
                        f"rerun the cell")
    root = results_root(run_json)
    path = root / rel
    if not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root)):
        raise UserError(f"{run_json}: model_path {rel!r} leads outside the results root {root} "
                        f"(through a link); rerun the cell")
    if not path.is_file():
        raise UserError(f"the model of {run_json} is missing: looked for {path} "
                        f"(model_path {rel!r}, relative to the results root "
                        f"{root}); models are not committed, rerun the cell")
    return path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_model_digest(run: dict, path: Path) -> str | None:
    """Refuse a model file that is not the one the run saved; a note when the run
    (an older one) recorded no digest."""
    want = (run.get("run") or {}).get("model_sha256") if isinstance(run.get("run"), dict) else None
    if want is None:
        return f"the run file records no model digest: {path} is used unchecked"
    got = file_sha256(path)
    if got != want:
        raise UserError(f"{path} is not the model this run saved (sha256 {got[:12]}..., the run "
                        f"recorded {str(want)[:12]}...); restore it or rerun the cell")
    return None


def class_labels(run: dict, n_outputs: int) -> tuple[list[str] | None, str | None]:
    """The class names of the model's outputs, or (None, why) when the run lacks them."""
    labels = (run.get("run") or {}).get("classes")
    if isinstance(labels, list) and labels:
        if len(labels) != n_outputs:
            raise UserError(f"the run lists {len(labels)} classes but its model has "
                            f"{n_outputs} outputs")
        return [str(x) for x in labels], None
    return None, "the run file does not list its class names: showing class indices"


def binarize_params(run: dict) -> tuple[dict, str | None]:
    """Thresholds tuned on dev by training, or onset 0.5 (and a note) when absent."""
    tuned = (run.get("run") or {}).get("binarize")
    if isinstance(tuned, dict) and "onset" in tuned:
        params = {k: float(tuned.get(k, DEFAULT_BINARIZE[k])) for k in DEFAULT_BINARIZE}
        params["offset"] = float(tuned.get("offset", tuned["onset"]))
        return params, None
    return dict(DEFAULT_BINARIZE), ("the run has no dev-tuned thresholds: binarizing at onset "
                                    "0.5, offset 0.5, no minimum durations")


def load_predictor(run_json) -> Predictor:
    run_json = Path(run_json)
    if not run_json.is_file():
        raise UserError(f"run file not found: {run_json}")
    try:
        run = RunRecord.load(run_json).to_json()
        config = RunConfig.from_json(run["config"])
        check_limits(config)  # a run file's settings are bounded as a command line's are
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError,
            UserError) as e:
        raise UserError(f"{run_json} is not a readable run file ({type(e).__name__}: "
                        f"{_printable(str(e))[:200]})") from None
    path = model_file(run, run_json)
    digest_note = check_model_digest(run, path)

    import keras

    import benchmark.heads  # noqa: F401 -- registers the heads' custom layers
    import benchmark.layers  # noqa: F401 -- registers the Gabor layer

    for system in systems():  # register every baseline's own layer classes
        system.load_layers()
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # a corrupt file or a layer no module registers
        raise UserError(f"cannot load the model {path}: {type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}") from None

    notes = [digest_note] if digest_note else []
    check_model_fits(model, config, path)
    labels = binarize = None
    if config.task_class.output == "frame":
        binarize, note = binarize_params(run)
    else:
        labels, note = class_labels(run, int(model.output_shape[-1]))
    if note:
        notes.append(note)
    return Predictor(run, config, model, labels, binarize, tuple(notes))


def check_model_fits(model, config, path: Path) -> None:
    """The model takes the run's log-mel and gives the task's kind of output (a model
    of another task behind this run file would otherwise crash mid-prediction)."""
    try:
        ins, outs = tuple(model.input_shape), tuple(model.output_shape)
    except (AttributeError, ValueError):  # several inputs or outputs: not one of ours
        raise UserError(f"{path} is not a model of this benchmark (one input, one output)") from None
    frame = config.task_class.output == "frame"
    # frame models keep the time axis (batch, time[, 1]); clip models give (batch, classes)
    fits_out = (outs[1] is None) if frame else (len(outs) == 2 and isinstance(outs[1], int))
    if len(ins) not in (3, 4) or ins[2] != config.features.n_mels or not fits_out:
        raise UserError(f"{path} does not fit its run file ({config.task} on "
                        f"{config.features.n_mels} mel bands): input {ins}, output {outs}; "
                        f"restore the model this run saved or rerun the cell")


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


# ------------------------------------------------------------------ inference


def _logmel(path: str, p: Predictor) -> np.ndarray:
    try:
        return logmel_file(path, p.features)
    except AudioError as e:  # its message names the file
        raise UserError(f"cannot read audio: {e}") from None
    except (OSError, RuntimeError, ValueError) as e:
        raise UserError(f"cannot read audio {path}: {type(e).__name__}: {e}") from None


def predict_file(p: Predictor, path: str, k: int = 3) -> list[str]:
    """The output lines for one audio file (RTTM for speech activity, top-k labels otherwise)."""
    x = _logmel(path, p)
    if len(x) == 0:
        raise UserError(f"cannot read audio {path}: it holds no samples")
    return p.task.predict_lines(p, path, x, k)


def cli_predict(args) -> int:
    """Predict every file; a bad file is reported and skipped, and the exit status says so."""
    if args.top < 1:
        raise UserError(f"--top must be at least 1, got {args.top}")
    p = load_predictor(args.run_json)
    for note in p.notes:
        print(f"note: {note}", file=sys.stderr)
    failed = 0
    for path in args.audio:
        try:
            if not path.isprintable():
                # a tab or newline in a name would forge output rows or RTTM segments
                raise UserError(f"audio file name {_printable(path)!r} holds control characters; "
                                f"rename it")
            if not Path(path).is_file():
                raise UserError(f"audio file not found: {path}")
            lines = predict_file(p, path, args.top)
        except UserError as e:
            failed += 1
            print(f"gaborbench predict: error: {e}", file=sys.stderr)
            continue
        for line in lines:
            print(line)
    if failed:
        print(f"gaborbench predict: {failed} of {len(args.audio)} file(s) could not be predicted",
              file=sys.stderr)
    return 1 if failed else 0
