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
    from benchmark.config import RunConfig
    from benchmark.results import RunRecord

    run_json = Path(run_json)
    if not run_json.is_file():
        raise UserError(f"run file not found: {run_json}")
    try:
        run = read_json(run_json)
        RunRecord.from_json(run)
        config = RunConfig.from_json(run["config"])
    except (ValueError, KeyError, TypeError, UserError) as e:
        raise UserError(f"{run_json} is not a readable run file ({type(e).__name__}: {e})") from None
    path = model_file(run, run_json)

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
    if config.task_class.output == "frame":
        binarize, note = binarize_params(run)
    else:
        labels, note = class_labels(run, int(model.output_shape[-1]))
    if note:
        notes.append(note)
    return Predictor(run, config, model, labels, binarize, tuple(notes))


# ------------------------------------------------------------------ inference


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
