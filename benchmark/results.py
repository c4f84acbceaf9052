"""Where run files and models live, what provenance they record, and loading them.

One run = one JSON at ``<out>/runs/<dataset>/<system>/seed<N>[_fold<K>].json``
(schema version 3) and one model at ``<out>/models/...keras`` (git-ignored).
:meth:`RunRecord.load` is the one way to read a run file.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmark import backend, paths
from benchmark.io import read_record, write_json
from benchmark.metrics import METRIC_DIRECTIONS

SCHEMA_VERSION = 3
# Per-item output blocks a run may carry, and the columns each must hold.
OUTPUT_COLUMNS = {
    "classification": ("item", "unit", "y_true", "y_pred"),
    "detection": ("item", "unit", "false_alarm", "missed", "total"),
    "verification": ("item", "unit", "score", "target"),
}


@dataclass(frozen=True)
class RunRecord:
    """One run file: written by training, read by the report and by ``predict``.

    ``config`` is the resolved :class:`benchmark.config.RunConfig` as JSON and
    ``config_hash`` its hash; ``run`` is what the run learned about itself
    (splits, the task's record such as class names or tuned thresholds, noise,
    resume); ``gabor`` the first Gabor layer's initial and final parameters
    with the units to convert them; ``planted`` a synthetic twin's planted class
    evidence (None on real data); ``outputs`` the per-item test outputs every
    metric is recomputed from (blocks of :data:`OUTPUT_COLUMNS`); ``history``
    the validation curve, the selected epoch and whether it was the last one
    (``selected_last_epoch``: the run may not have converged).
    """

    dataset: str
    task: str
    system: str
    seed: int
    fold: int | None
    profile: str
    data_source: str
    config_hash: str
    config: dict
    run: dict
    metrics: dict
    main_metric: str
    history: dict
    params: dict
    gabor: dict | None
    planted: dict | None
    features: dict
    wall_time_s: float
    provenance: dict
    model_path: str
    outputs: dict
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict:
        check_outputs(self.outputs)
        d = dataclasses.asdict(self)
        d["metrics"] = {k: (v if isinstance(v, list) else float(v)) for k, v in self.metrics.items()}
        d["metric_directions"] = {k: METRIC_DIRECTIONS[k] for k in self.metrics
                                  if k in METRIC_DIRECTIONS}
        return d

    @classmethod
    def from_json(cls, d: dict) -> "RunRecord":
        """A record from decoded JSON; ValueError says what is wrong with it."""
        if not isinstance(d, dict):
            raise ValueError("not a JSON object")
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"run file schema {d.get('schema_version')!r}, this version reads "
                             f"{SCHEMA_VERSION}: rerun the cell")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = sorted(names - set(d) - {"schema_version"})
        if missing:
            raise ValueError(f"run file lacks {missing}")
        check_outputs(d["outputs"])
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def load(cls, path) -> "RunRecord":
        """Read and validate one run file: the one way any module reads a run.

        Regular files only, size-capped (a FIFO or a huge file named ``*.json`` must
        not hang or exhaust a reader). ValueError says what is wrong; the caller names
        the file.
        """
        try:
            obj = read_record(path)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"unreadable JSON ({e})") from None
        try:
            return cls.from_json(obj)
        except (TypeError, AttributeError, KeyError, RecursionError) as e:
            raise ValueError(f"malformed run file ({type(e).__name__}: {e})") from None

    @staticmethod
    def configured_hash(path) -> str | None:
        """The configuration hash of the run file at ``path``, or None when it cannot be read
        (a skip check: an unreadable file is a cell to run again)."""
        try:
            return RunRecord.load(path).config_hash
        except ValueError:
            return None


def check_outputs(outputs) -> None:
    """Validate a record's per-item outputs: known blocks, required columns, equal lengths."""
    if not isinstance(outputs, dict):
        raise ValueError("'outputs' is not an object")
    for block, cols in outputs.items():
        need = OUTPUT_COLUMNS.get(block)
        if need is None:
            raise ValueError(f"outputs block {block!r} is not one of {', '.join(OUTPUT_COLUMNS)}")
        if not isinstance(cols, dict) or any(not isinstance(cols.get(c), list) for c in need):
            raise ValueError(f"outputs.{block} lacks one of the columns {', '.join(need)}")
        lengths = {len(v) for v in cols.values() if isinstance(v, list)}
        if len(lengths) != 1 or not lengths.pop():
            raise ValueError(f"outputs.{block} columns are empty or differ in length")
        if len(set(cols["item"])) != len(cols["item"]):
            raise ValueError(f"outputs.{block} repeats an item id")


RUN_KEYS = tuple(f.name for f in dataclasses.fields(RunRecord)) + ("metric_directions",)
HISTORY_KEYS = ("epoch", "loss", "val_loss", "val_main", "val_extra", "best_epoch",
                "selected_last_epoch")
PROVENANCE_KEYS = ("git_commit", "git_dirty", "packages", "python", "platform", "device",
                   "keras_backend", "determinism", "data_checksum", "data_root", "twin",
                   "skipped_inputs", "created_utc")
PACKAGES = ("tensorflow", "keras", "jax", "torch", "numpy", "scipy", "soundfile", "soxr", "scikit-learn",
            "pyannote.metrics")


def default_out() -> Path:
    return paths.RESULTS_DIR


def _stem(seed: int, fold: int | None) -> str:
    return f"seed{seed}" + ("" if fold is None else f"_fold{fold}")


def run_path(out, dataset: str, system: str, seed: int, fold: int | None = None) -> Path:
    return Path(out) / "runs" / dataset / system / f"{_stem(seed, fold)}.json"


def model_path(out, dataset: str, system: str, seed: int, fold: int | None = None) -> Path:
    return Path(out) / "models" / dataset / system / f"{_stem(seed, fold)}.keras"


def cell_lock_path(out, run_file: Path) -> Path:
    """The cell's claim: ``<out>/.locks/<dataset>/<system>/<run file>.lock``, outside
    ``runs/``, so that a run that fails or is killed leaves nothing among the results."""
    rel = Path(run_file).relative_to(Path(out) / "runs")
    return Path(out) / ".locks" / rel.parent / f"{rel.name}.lock"


def checkpoint_dir(out, dataset: str, system: str, seed: int, fold: int | None = None) -> Path:
    return Path(out) / "checkpoints" / dataset / system / _stem(seed, fold)


def logs_dir(out, dataset: str, system: str, seed: int, fold: int | None = None) -> Path:
    return Path(out) / "logs" / dataset / system / _stem(seed, fold)


def git_state(repo: Path = paths.REPO_ROOT) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the repository, or (None, None) outside git."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None, None
        # Generated results are not code: rewriting results/ (make demo-reference) leaves
        # the code clean.
        status = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                     ":(exclude)results")
        return head.stdout.strip(), bool(status.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def provenance(*, data_checksum: str, data_root: str, twin: dict | None,
               skipped_inputs: int, determinism: str | None = None) -> dict:
    commit, dirty = git_state()
    return {
        "git_commit": commit,
        "git_dirty": dirty,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "device": backend.device_description(),
        "keras_backend": backend.name(),
        "determinism": determinism,
        "data_checksum": data_checksum,
        "data_root": str(data_root),
        "twin": twin,
        "skipped_inputs": int(skipped_inputs),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_run(path, run: RunRecord) -> None:
    write_json(path, run.to_json())
