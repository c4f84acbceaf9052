"""Read run JSONs and dataset markers into plain, validated records.

A report must survive whatever is in the runs folder: a half-copied file, an old
schema, a hand-edited metric. Each bad file is skipped with one warning line
naming it; nothing here raises on bad input.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("benchmark.report")

from benchmark.io import read_record  # noqa: E402
from benchmark.metrics import METRICS  # noqa: E402  (NumPy only: no Keras)
from benchmark.results import SCHEMA_VERSION, RunRecord  # noqa: E402  the one run-file schema
MISSING_MARKER = "MISSING.json"
GABOR_KEYS = ("sigma_t", "sigma_f", "frequency", "orientation")
GRIDS = ("centered", "reference")
# Dataset and system names become file names (plots, tables) and table cells: a
# plain identifier-like name, so that no '../', separator, newline or '|' in a run
# file can write outside the output folder or forge a row.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]{0,63}$")  # "+": a null row, e.g. x+permuted


def plain_name(value: Any, what: str) -> str:
    """``value`` when it is a plain identifier-like name, else ValueError naming it."""
    if not isinstance(value, str) or not NAME.match(value):
        raise ValueError(f"'{what}' is {value!r}, not a plain name (letters, digits, '_', '-')")
    return value


@dataclass(frozen=True)
class Run:
    """One run file, with the fields the report reads made explicit."""

    path: Path                       # relative to the runs folder (stable across machines)
    dataset: str
    system: str
    seed: int
    fold: int | None
    profile: str
    data_source: str
    main_metric: str
    metrics: dict[str, float]
    directions: dict[str, str]
    history: dict[str, Any]
    frontend_trainable: int | None
    total_trainable: int | None
    gabor: dict[str, Any] | None
    provenance: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    features: dict[str, Any] = field(default_factory=dict)
    # Synthetic twins only: the modulations the generator planted per class, as
    # [{"temporal_hz", "spectral_cyc_per_oct", "direction", "class", "what"}, ...].
    planted: tuple[dict[str, Any], ...] | None = None
    resumed_from_epoch: int | None = None  # trained in two parts (a checkpoint resumed)
    # Per-item test outputs by block, as NumPy columns (see benchmark.results.OUTPUT_COLUMNS).
    outputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    selected_last_epoch: bool = False      # best validation at the last epoch: maybe unconverged

    @property
    def key(self) -> tuple[int, int]:
        """(seed, fold) with fold -1 for fold-less protocols: the pairing key."""
        return (self.seed, -1 if self.fold is None else self.fold)


@dataclass(frozen=True)
class RunSet:
    runs: list[Run]                  # sorted by (dataset, system, seed, fold)
    missing: dict[str, str]          # dataset -> reason, from MISSING.json markers
    skipped: list[tuple[str, str]]   # (file, why) for files that could not be used
    failed: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    # (dataset, system) -> [(cell name, error)], from the grid's logs/failed/ beside runs/


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _gabor(g: Any) -> dict[str, Any] | None:
    """Validate the gabor block; return it with numpy-ready lists, or raise ValueError."""
    if g is None:
        return None
    if not isinstance(g, dict):
        raise ValueError("'gabor' is neither null nor an object")
    out = dict(g)
    for which in ("init", "final"):
        block = g.get(which)
        if not isinstance(block, dict) or any(k not in block for k in GABOR_KEYS):
            raise ValueError(f"gabor.{which} lacks one of {', '.join(GABOR_KEYS)}")
        lengths = {len(block[k]) for k in GABOR_KEYS}
        if len(lengths) != 1 or not all(_finite(v) for k in GABOR_KEYS for v in block[k]):
            raise ValueError(f"gabor.{which} arrays differ in length or hold non-finite values")
    if not g["final"]["sigma_t"]:
        raise ValueError("gabor holds no filters")
    if len(g["init"]["sigma_t"]) != len(g["final"]["sigma_t"]):
        raise ValueError("gabor.init and gabor.final have different filter counts")
    for k in ("frame_rate_hz", "mel_bins_per_octave"):
        if not _finite(g.get(k)) or g[k] <= 0:
            raise ValueError(f"gabor.{k} is missing or not a positive number")
    ks = g.get("kernel_size")
    if not (isinstance(ks, list) and len(ks) == 2 and all(isinstance(v, int) and v > 0 for v in ks)):
        raise ValueError("gabor.kernel_size is not [K_t, K_f]")
    out["learnable"] = bool(g.get("learnable", False))
    # Optional (newer runs): the mel axis, for the local bands-per-octave range.
    n_mels = g.get("n_mels")
    if n_mels is not None and (not isinstance(n_mels, int) or isinstance(n_mels, bool) or n_mels < 1):
        raise ValueError("gabor.n_mels is not a positive integer")
    for k in ("fmin", "fmax"):
        if g.get(k) is not None and (not _finite(g[k]) or g[k] < 0):
            raise ValueError(f"gabor.{k} is not a non-negative number")
    if g.get("fmin") is not None and g.get("fmax") is not None and g["fmax"] <= g["fmin"]:
        raise ValueError("gabor.fmax is not above gabor.fmin")
    if g.get("grid") is not None and g["grid"] not in GRIDS:
        raise ValueError(f"gabor.grid is {g['grid']!r}, expected one of {', '.join(GRIDS)}")
    return out


def _planted(p: Any) -> tuple[dict[str, Any], ...] | None:
    """Flatten a twin's planted-modulation block into evidence points, or raise ValueError."""
    if p is None:
        return None
    if not isinstance(p, dict) or not isinstance(p.get("classes"), dict):
        raise ValueError("'planted' is not an object with a 'classes' object")
    points = []
    for label in sorted(p["classes"]):
        entries = p["classes"][label]
        if not isinstance(entries, list):
            raise ValueError(f"planted.classes[{label!r}] is not a list")
        for e in entries:
            if not isinstance(e, dict):
                raise ValueError(f"planted.classes[{label!r}] holds a non-object entry")
            t, s, d = e.get("temporal_hz"), e.get("spectral_cyc_per_oct"), e.get("direction")
            if not (_finite(t) and _finite(s) and t >= 0 and s >= 0):
                raise ValueError(f"planted.classes[{label!r}]: temporal_hz and "
                                 "spectral_cyc_per_oct must be non-negative numbers")
            if d not in (-1, 0, 1) or isinstance(d, bool):
                raise ValueError(f"planted.classes[{label!r}]: direction must be 1, -1 or 0")
            points.append({"class": str(label), "temporal_hz": float(t),
                           "spectral_cyc_per_oct": float(s), "direction": int(d),
                           "what": str(e.get("what", ""))})
    return tuple(points) if points else None


def _identity(obj: dict) -> tuple[int, int | None]:
    """Check the run's names and (seed, fold); return the latter."""
    for k in ("dataset", "system", "main_metric"):
        if not isinstance(obj.get(k), str) or not obj[k]:
            raise ValueError(f"'{k}' is missing or not a string")
        plain_name(obj[k], k)
    if not isinstance(obj.get("profile"), (str, type(None))) or (
            obj.get("profile") and not NAME.match(obj["profile"])):
        raise ValueError(f"'profile' is {obj.get('profile')!r}, not a plain name")
    seed, fold = obj.get("seed"), obj.get("fold")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError("'seed' is not an integer")
    if fold is not None and (not isinstance(fold, int) or isinstance(fold, bool)):
        raise ValueError("'fold' is neither null nor an integer")
    return seed, fold


def _metrics(obj: dict) -> tuple[dict[str, float], dict]:
    """The run's finite scalar metrics and their directions."""
    raw = obj.get("metrics")
    if not isinstance(raw, dict):
        raise ValueError("'metrics' is not an object")
    # "<name>_ci95" intervals are lists; the report recomputes its own intervals.
    for k in raw:
        plain_name(k, "metrics key")  # metric names become CSV columns and table cells
    metrics = {k: float(v) for k, v in raw.items() if not isinstance(v, list)}
    bad = sorted(k for k, v in metrics.items() if not math.isfinite(v))
    bad += sorted(k for k, v in raw.items() if not isinstance(v, list) and not _finite(v))
    if bad:
        raise ValueError(f"metric(s) {', '.join(sorted(set(bad)))} are not finite numbers")
    if obj["main_metric"] not in metrics:
        raise ValueError(f"main_metric {obj['main_metric']!r} is not among the metrics")
    directions = obj.get("metric_directions")
    if not isinstance(directions, dict):
        raise ValueError("'metric_directions' is not an object")
    for m in metrics:
        if directions.get(m) not in ("max", "min"):
            raise ValueError(f"metric {m!r} has no direction ('max' or 'min')")
    return metrics, directions


def _check_recomputed(metrics: dict[str, float], outputs: dict) -> None:
    """Every metric with per-item outputs must be what those outputs give."""
    for m in metrics:
        spec = METRICS.get(m)
        if spec is None or spec.block not in outputs:
            continue
        try:
            recomputed = spec.from_items(outputs[spec.block],
                                         np.ones(len(outputs[spec.block]["item"])))
        except (KeyError, ValueError) as e:
            raise ValueError(f"metric {m} cannot be recomputed from outputs.{spec.block} "
                             f"({type(e).__name__}: {e})") from None
        if not math.isclose(recomputed, metrics[m], rel_tol=1e-9, abs_tol=1e-9):
            raise ValueError(f"metric {m} is {metrics[m]!r} but its per-item outputs give "
                             f"{recomputed!r} (edited file?)")


def _history(obj: dict) -> dict:
    history = obj.get("history") if isinstance(obj.get("history"), dict) else {}
    ep, val = history.get("epoch"), history.get("val_main")
    if not (isinstance(ep, list) and isinstance(val, list) and len(ep) == len(val)
            and all(_finite(v) for v in ep + val)):
        history = {}   # curves are optional: a damaged history only drops this run's curve
    return history


def _object(obj: dict, key: str) -> dict:
    return obj.get(key) if isinstance(obj.get(key), dict) else {}


def parse_run(obj: Any, rel: Path) -> Run:
    """Turn one decoded run JSON into a :class:`Run`; ValueError says what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    if obj.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"schema_version is {obj.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    RunRecord.from_json(obj)  # every field the training writes is there, outputs well formed
    seed, fold = _identity(obj)
    metrics, directions = _metrics(obj)
    history = _history(obj)
    params = _object(obj, "params")
    source = obj.get("data_source")
    if source not in ("twin", "real"):
        raise ValueError(f"data_source is {source!r}, expected 'twin' or 'real'")
    outputs = _outputs(obj["outputs"])
    _check_recomputed(metrics, outputs)

    def count(k: str) -> int | None:
        v = params.get(k)
        return int(v) if isinstance(v, int) and not isinstance(v, bool) else None

    return Run(
        path=rel, dataset=obj["dataset"], system=obj["system"], seed=seed, fold=fold,
        profile=str(obj.get("profile") or "unknown"), data_source=source,
        main_metric=obj["main_metric"], metrics=metrics,
        directions={m: directions[m] for m in metrics}, history=history,
        frontend_trainable=count("frontend_trainable"), total_trainable=count("total_trainable"),
        gabor=_gabor(obj.get("gabor")), provenance=_object(obj, "provenance"),
        config=_object(obj, "config"), features=_object(obj, "features"),
        planted=_planted(obj.get("planted")),
        resumed_from_epoch=_resumed(obj.get("run")),
        outputs=outputs,
        selected_last_epoch=bool(history.get("selected_last_epoch", False)),
    )


def _outputs(raw: dict) -> dict[str, dict[str, np.ndarray]]:
    """The outputs blocks as NumPy columns (ids as strings); ValueError on bad values."""
    out = {}
    for block, cols in raw.items():
        arrays = {}
        for name, values in cols.items():
            if name in ("item", "unit"):
                arrays[name] = np.asarray([str(v) for v in values])
            elif all(_finite(v) for v in values):
                arrays[name] = np.asarray(values, np.float64)
            elif all(isinstance(v, str) for v in values):
                arrays[name] = np.asarray(values)
            else:
                raise ValueError(f"outputs.{block}.{name} holds values that are neither finite "
                                 "numbers nor strings")
        out[block] = arrays
    return out


def _resumed(run: Any) -> int | None:
    v = run.get("resumed_from_epoch") if isinstance(run, dict) else None
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def load_runs(runs_dir: Path) -> RunSet:
    """Every usable run under ``runs_dir`` (recursively), plus dataset markers."""
    runs_dir = Path(runs_dir)
    runs: list[Run] = []
    missing: dict[str, str] = {}
    skipped: list[tuple[str, str]] = []
    seen: dict[tuple, Path] = {}
    for path in sorted(runs_dir.rglob("*.json")):
        rel = path.relative_to(runs_dir)
        if any(part.startswith(".") for part in rel.parts):
            continue  # atomic-write temporaries and hidden folders
        if path.name == MISSING_MARKER:
            try:
                # regular files only, size-capped: a FIFO named *.json must not hang the report
                obj = read_record(path)
            except (OSError, UnicodeDecodeError, ValueError) as e:
                skipped.append((_shown(rel), f"unreadable JSON ({_printable(str(e))})"))
                continue
            reason = obj.get("reason") if isinstance(obj, dict) else None
            dataset = obj.get("dataset") if isinstance(obj, dict) and obj.get("dataset") else rel.parts[0]
            if not isinstance(dataset, str) or not NAME.match(dataset):
                skipped.append((_shown(rel), f"'dataset' is {dataset!r}, not a plain name"))
                continue
            missing[dataset] = _printable(str(reason or "dataset not available"))
            continue
        try:
            run = parse_run(RunRecord.load(path).to_json(), rel)
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError) as e:
            # whatever a hand-edited file holds, it costs this file only
            skipped.append((_shown(rel), _printable(str(e) or type(e).__name__)))
            continue
        ident = (run.dataset, run.system, run.seed, run.fold, run.profile)
        if ident in seen:
            skipped.append((_shown(rel), f"duplicate of {_shown(seen[ident])}"))
            continue
        seen[ident] = rel
        runs.append(run)
    for f, why in skipped:
        log.warning("skipping run file %s: %s", runs_dir / f, why)
    runs.sort(key=lambda r: (r.dataset, r.system, r.seed, -1 if r.fold is None else r.fold,
                             r.profile, r.path.as_posix()))
    # A marker explains cells that have no runs; cells with runs ignore it.
    return RunSet(runs, dict(sorted(missing.items())), skipped, load_failures(runs_dir))


def load_failures(runs_dir: Path) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Failed grid cells logged in ``<runs_dir>/../logs/failed/<dataset>/<system>/*.json``."""
    root = Path(runs_dir).parent / "logs" / "failed"
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for path in sorted(root.glob("*/*/*.json")) if root.is_dir() else []:
        dataset, system = path.parts[-3], path.parts[-2]
        if not (NAME.match(dataset) and NAME.match(system) and NAME.match(path.stem)):
            log.warning("skipping failure log %s: not a dataset/system/cell name", path)
            continue
        try:
            obj = read_record(path)
            error = str(obj.get("error") or "unknown error")
        except (OSError, UnicodeDecodeError, ValueError, AttributeError):
            error = "unknown error (unreadable failure log)"
        first = error.strip().splitlines()[0] if error.strip() else "unknown error"
        out.setdefault((dataset, system), []).append((path.stem, _printable(first[:160])))
    return out


def _printable(text: str) -> str:
    """``text`` with control characters written as escapes (they would forge table rows)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _shown(rel: Path) -> str:
    return _printable(rel.as_posix())
